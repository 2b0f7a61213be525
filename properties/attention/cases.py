"""Build the tensors of a test case from its recipe, and the oracle's exact view of them.

Values are drawn in float64 from ``numpy.random.default_rng(recipe.seed)`` and rounded once to
the case's dtype; the oracle then sees exactly the rounded values (every float dtype converts to
float64 exactly), so a case tests the kernel on the input it was actually given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from attnspec.oracles.attention.alibi_slopes import canonical_alibi_slopes_float64
from attnspec.oracles.attention.problem import AttentionProblem

from attnspec.properties.attention.recipe import Recipe

TORCH_DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}
# Largest magnitude drawn per dtype: float16 overflows at 65504.
_VALUE_LIMIT = {"float16": 6.0e4, "bfloat16": 1e30, "float32": 1e30, "float64": 1e300}
# Relative noise that makes near-ties: a few units in the dtype's last place.
_TIE_NOISE = {"float16": 2.0**-9, "bfloat16": 2.0**-6, "float32": 2.0**-21, "float64": 2.0**-50}


@dataclass
class AttentionCase:
    """Tensors and keyword options of one kernel call; q [B, Hq, Lq, D] etc. (bhld)."""

    recipe: Recipe
    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    kwargs: dict = field(default_factory=dict)

    def problem(self, alignment: str | None) -> AttentionProblem:
        """The oracle's exact float64 view; ``alignment`` is the kernel's causal convention."""
        kw = self.kwargs
        return AttentionProblem.build(
            _exact(self.q),
            _exact(self.k),
            _exact(self.v),
            scale=kw.get("scale"),
            causal=alignment if kw.get("causal") else None,
            alibi_slopes=None if kw.get("alibi_slopes") is None else _exact(kw["alibi_slopes"]),
            mask=None if kw.get("mask") is None else kw["mask"].cpu().numpy(),
            window=kw.get("window"),
            softcap=kw.get("softcap"),
        )

    def clone(self) -> "AttentionCase":
        """Deep copy (same values, same strides): the kernel under test may mutate its inputs."""
        kw = {k: clone_like(v) if isinstance(v, torch.Tensor) else v for k, v in self.kwargs.items()}
        return AttentionCase(self.recipe, clone_like(self.q), clone_like(self.k),
                             clone_like(self.v), kw)


def _exact(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


def clone_like(t: torch.Tensor) -> torch.Tensor:
    out = torch.empty_strided(t.size(), t.stride(), dtype=t.dtype, device=t.device)
    if t.storage_offset() or not t.is_contiguous():
        # Recreate the view inside a larger buffer so the storage offset survives too.
        span = t.storage_offset() + sum((s - 1) * st for s, st in zip(t.size(), t.stride())) + 1
        buffer = torch.zeros(max(span, 1), dtype=t.dtype, device=t.device)
        out = buffer.as_strided(t.size(), t.stride(), t.storage_offset())
    out.copy_(t)
    return out


def build_case(recipe: Recipe, device: str | torch.device = "cpu") -> AttentionCase:
    if recipe.keys == "sphere":
        return _sphere_case(recipe, device)
    if recipe.keys == "progression":
        return _progression_case(recipe, device)
    if recipe.keys == "sink":
        return _sink_case(recipe, device)
    if recipe.keys != "normal":
        raise ValueError(f"unknown keys {recipe.keys!r}")
    r = recipe
    rng = np.random.default_rng(r.seed)
    B, Hq, Hk, Lq, Lk, D, Dv = (r.batch, r.q_heads, r.kv_heads, r.q_len, r.kv_len,
                                r.head_dim, r.value_dim)
    limit = _VALUE_LIMIT[r.dtype]

    q = rng.standard_normal((B, Hq, Lq, D)) * r.logit_scale
    if r.row_spread:
        q *= 10.0 ** rng.uniform(-r.row_spread, r.row_spread, size=(B, Hq, Lq, 1))
    k = rng.standard_normal((B, Hk, Lk, D))
    v = rng.standard_normal((B, Hk, Lk, Dv)) + r.value_offset

    if r.near_ties and Lk > 1:
        # Half the keys become key 0 perturbed in the dtype's last bits: near-equal scores.
        ties = rng.choice(Lk, size=max(1, Lk // 2), replace=False)
        noise = 1 + _TIE_NOISE[r.dtype] * rng.standard_normal((B, Hk, len(ties), D))
        k[:, :, ties] = k[:, :, :1] * noise
    for _ in range(min(r.duplicate_keys, max(Lk - 1, 0))):
        src, dst = rng.choice(Lk, size=2, replace=False)
        k[:, :, dst] = k[:, :, src]  # identical keys, different values

    if r.score_shift:
        # s_ij = scale <q_i, k_j> gains scale * alpha * beta = score_shift for every pair.
        scale = 1 / np.sqrt(D) if r.scale is None else r.scale
        if scale == 0:
            raise ValueError("score_shift needs a nonzero scale")
        alpha = np.sqrt(abs(r.score_shift / scale))
        q[..., -1] = alpha
        k[..., -1] = r.score_shift / (scale * alpha)

    mask = None
    mask_shape = {"full": (B, Hq, Lq, Lk), "heads": (B, 1, Lq, Lk), "shared": (Lq, Lk)}
    if r.mask_density is not None:
        mask = rng.random(mask_shape[r.mask_broadcast]) < r.mask_density
        if r.empty_rows:
            rows = rng.choice(Lq, size=min(r.empty_rows, Lq), replace=False)
            mask[..., rows, :] = False

    if r.sentinel_trap and Lk > 1:
        # Some keys are hidden from every query yet carry the largest logits: a kernel that
        # masks with a finite fill value, or adds a finite bias, lets them through.
        trap = rng.choice(Lk, size=max(1, Lk // 4), replace=False)
        direction = q.mean(axis=(2,), keepdims=True)  # [B, Hq, 1, D]
        direction = direction.reshape(B, Hk, Hq // Hk, 1, D).mean(axis=2)  # per kv head
        norm = np.linalg.norm(direction, axis=-1, keepdims=True) + 1e-30
        k[:, :, trap] = direction / norm * (np.abs(k).max() + 1) * 8
        if mask is None:
            mask = np.ones(mask_shape[r.mask_broadcast], dtype=bool)
        mask[..., trap] = False

    q = np.clip(q, -limit, limit)
    k = np.clip(k, -limit, limit)
    v = np.clip(v, -limit, limit)

    dtype = TORCH_DTYPES[r.dtype]
    kwargs: dict = {}
    if r.scale is not None:
        kwargs["scale"] = r.scale
    if r.causal:
        kwargs["causal"] = True
    if r.alibi is not None:
        if r.alibi == "canonical":
            slopes = canonical_alibi_slopes_float64(Hq)
        else:
            slopes = rng.uniform(0.0, 1.0, size=Hq)
        kwargs["alibi_slopes"] = torch.tensor(slopes, dtype=torch.float32, device=device)
    if mask is not None:
        kwargs["mask"] = torch.from_numpy(mask).to(device)
    if r.window is not None:
        kwargs["window"] = tuple(r.window)
    if r.softcap is not None:
        kwargs["softcap"] = r.softcap
    if r.return_lse:
        kwargs["return_lse"] = True

    return AttentionCase(
        r,
        place(q, dtype, device, r.layout),
        place(k, dtype, device, r.layout),
        place(v, dtype, device, r.layout),
        kwargs,
    )


def place(x: np.ndarray, dtype, device, layout: str) -> torch.Tensor:
    """[B, H, L, D] values as a tensor of ``dtype`` on ``device`` in the recipe's layout."""
    t = torch.from_numpy(x).to(dtype)  # one rounding, float64 -> dtype
    if layout == "contiguous":
        return t.to(device)
    if layout == "transposed":  # stored [B, L, H, D], seen as [B, H, L, D]
        return t.transpose(1, 2).contiguous().to(device).transpose(1, 2)
    if layout == "offset":  # a slice of a wider buffer: storage offset and padded rows
        B, H, L, D = t.shape
        buffer = torch.zeros((B, H, L, D + 3), dtype=dtype, device=device)
        buffer[..., 1 : D + 1] = t.to(device)
        return buffer[..., 1 : D + 1]
    raise ValueError(f"unknown layout {layout!r}")


def _scale_of(r: Recipe) -> float:
    return 1.0 / np.sqrt(r.head_dim) if r.scale is None else r.scale


def _options(r: Recipe) -> dict:
    kwargs = {} if r.scale is None else {"scale": r.scale}
    if r.return_lse:
        kwargs["return_lse"] = True
    return kwargs


def _sphere_case(r: Recipe, device) -> AttentionCase:
    """Keys uniform on S^(D-1) (normalised Gaussians), values v = k, and unit queries scaled so
    that the kernel's scores are beta <q_hat, k>: the setting of the scaling-limit laws."""
    rng = np.random.default_rng(r.seed)
    B, Hq, Hk, Lq, Lk, D = r.batch, r.q_heads, r.kv_heads, r.q_len, r.kv_len, r.head_dim
    if r.value_dim != D:
        raise ValueError("sphere keys use identity values: value_dim must equal head_dim")
    k = rng.standard_normal((B, Hk, Lk, D))
    k /= np.linalg.norm(k, axis=-1, keepdims=True)
    q = rng.standard_normal((B, Hq, Lq, D))
    q *= r.beta / (_scale_of(r) * np.linalg.norm(q, axis=-1, keepdims=True))
    dtype = TORCH_DTYPES[r.dtype]
    kt = place(k, dtype, device, "contiguous")
    return AttentionCase(r, place(q, dtype, device, "contiguous"), kt, kt.clone(), _options(r))


def _progression_case(r: Recipe, device) -> AttentionCase:
    """Scores s_j = 8 - beta j (or reversed), values (1, j / Lk): geometric weights whose exact
    output has a closed form (oracles/attention/geometric_attention.py)."""
    B, Hq, Hk, Lq, Lk, D, Dv = (r.batch, r.q_heads, r.kv_heads, r.q_len, r.kv_len, r.head_dim,
                                r.value_dim)
    if D < 1 or Dv < 2:
        raise ValueError("progression cases need head_dim >= 1 and value_dim >= 2")
    j = np.arange(Lk, dtype=np.float64)
    order = j[::-1] if r.variant >= 0.5 else j  # reversed: the largest score comes last
    q = np.zeros((B, Hq, Lq, D))
    q[..., 0] = 1.0
    k = np.zeros((B, Hk, Lk, D))
    k[..., 0] = (8.0 - r.beta * order) / _scale_of(r)
    v = np.zeros((B, Hk, Lk, Dv))
    v[..., 0] = 1.0
    v[..., 1] = j / Lk
    dtype = TORCH_DTYPES[r.dtype]
    return AttentionCase(r, *(place(x, dtype, device, "contiguous") for x in (q, k, v)),
                         _options(r))


def _sink_case(r: Recipe, device) -> AttentionCase:
    """An attention sink: one key scores 0, the other Lk - 1 score -beta + N(0, 1/4). With beta
    ~ 15 each tail weight is ~3e-7 of the sink's, yet a million of them hold a third of the
    mass: the case where losing small terms from the normaliser shows."""
    rng = np.random.default_rng(r.seed)
    B, Hq, Hk, Lq, Lk, D, Dv = (r.batch, r.q_heads, r.kv_heads, r.q_len, r.kv_len, r.head_dim,
                                r.value_dim)
    scores = -r.beta + 0.5 * rng.standard_normal((B, Hk, Lk))
    scores[:, :, int(r.variant * Lk)] = 0.0
    q = np.zeros((B, Hq, Lq, D))
    q[..., 0] = 1.0
    k = np.zeros((B, Hk, Lk, D))
    k[..., 0] = scores / _scale_of(r)
    v = rng.standard_normal((B, Hk, Lk, Dv))
    dtype = TORCH_DTYPES[r.dtype]
    return AttentionCase(r, *(place(x, dtype, device, "contiguous") for x in (q, k, v)),
                         _options(r))
