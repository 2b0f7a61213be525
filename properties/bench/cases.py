"""A bench case: one standard shape in one dtype on one device, what it asks of a kernel's
declaration, and its inputs.

A case is run only when the kernel's declaration covers it; otherwise ``why_not`` says why, and
the case becomes a pytest skip with that reason (never a silent drop): an undeclared keyword
option (causal, window, alibi, mask, softcap, lse), query heads on fewer kv heads without
``gqa``, or a head dim the kernel does not take (``head_dim_multiple``, ``max_head_dim``).

Which cases a kernel gets (``plan``): every model row (prefill and decode) in each dtype the
kernel declares, and each option row in one dtype, the first the kernel declares of bfloat16,
float16, float32, float64 (what models run first), so that a run stays short.

The option values of a row of length L:

    causal   causal=True (Lq = Lk, so top-left and bottom-right alignments are the same keys)
    window   window=(min(4096, L // 4), 0): Mistral's 4096-key sliding window, narrowed on
             short rows so that it hides keys
    alibi    alibi_slopes = the canonical slopes of the query heads (2^(-8h/H))
    softcap  softcap=50.0 (Gemma-2's attention logit cap)
    mask     a bool key-padding mask [B, 1, 1, Lk]: sequence b keeps its first L (1 - b/4) keys
    lse      return_lse=True
    plain    no keyword at all
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from attnspec.kernels.attention.alibi_slopes import alibi_slopes
from attnspec.kernels.spec import KernelSpec
from attnspec.properties.bench.shapes import Shape, memory_reason

DTYPE_ORDER = ("bfloat16", "float16", "float32", "float64")
WINDOW_KEYS = 4096  # Mistral-7B's sliding window
SOFTCAP = 50.0  # Gemma-2's attn_logit_softcapping
# The contract's keyword option each option row passes, and the capability that declares it.
OPTION_CAPABILITY = {"causal": "causal", "window": "window", "alibi": "alibi", "mask": "mask",
                     "softcap": "softcap", "lse": "lse", "plain": None}
SEED = 20240610


@dataclass(frozen=True)
class BenchCase:
    """One standard shape, in ``dtype``, on ``device``."""

    shape: Shape
    dtype: str
    device: str

    @property
    def id(self) -> str:
        """The case's name in pytest and in pytest-benchmark's storage: it names no kernel, so
        that a saved run of one kernel compares with a run of another (or of a new version)."""
        return f"{self.device}/{self.shape.id}/{self.dtype}"

    def why_not(self, spec: KernelSpec) -> str | None:
        """Why a kernel with declaration ``spec`` cannot take this case (every reason, joined
        by "; "), or None."""
        layout, d = self.shape.layout, self.shape.layout.head_dim
        reasons = []
        capability = OPTION_CAPABILITY[self.shape.option]
        if capability is not None and not spec.declares(capability):
            reasons.append(f"{self.shape.option} row: {spec.lacks(capability)}")
        if layout.kv_heads != layout.q_heads and not spec.gqa:
            reasons.append(f"{layout.model} has {layout.q_heads} query heads on "
                           f"{layout.kv_heads} kv head(s) ({layout.kind}): the kernel does not "
                           f"declare gqa")
        if d % spec.head_dim_multiple:
            reasons.append(f"{layout.model} has head dim {d}, not a multiple of the kernel's "
                           f"head_dim_multiple={spec.head_dim_multiple}")
        if spec.max_head_dim is not None and d > spec.max_head_dim:
            reasons.append(f"{layout.model} has head dim {d}, over the kernel's "
                           f"max_head_dim={spec.max_head_dim}")
        return "; ".join(reasons) or None

    def inputs(self) -> "CaseInputs":
        """q [B, Hq, Lq, D], k and v [B, Hk, Lk, D], random normal from a fixed seed, and the
        row's keyword options, on the case's device."""
        s, layout = self.shape, self.shape.layout
        device = torch.device(self.device)
        dtype = getattr(torch, self.dtype)
        generator = torch.Generator(device=device).manual_seed(SEED)

        def normal(heads: int, length: int) -> torch.Tensor:  # [B, heads, length, D]
            x = torch.randn(s.batch, heads, length, layout.head_dim, generator=generator,
                            device=device)  # drawn where it is used: 128k-key rows are GiBs
            return x.to(dtype=dtype)

        q = normal(layout.q_heads, s.q_len)
        k = normal(layout.kv_heads, s.kv_len)
        v = normal(layout.kv_heads, s.kv_len)
        return CaseInputs(q, k, v, option_kwargs(s, device))


@dataclass
class CaseInputs:
    q: torch.Tensor  # [B, Hq, Lq, D]
    k: torch.Tensor  # [B, Hk, Lk, D]
    v: torch.Tensor  # [B, Hk, Lk, D]
    kwargs: dict  # the contract's keyword options for this row

    def expected_out_shape(self) -> tuple[int, ...]:
        """[B, Hq, Lq, Dv]."""
        return (*self.q.shape[:3], self.v.shape[3])


def option_kwargs(shape: Shape, device: torch.device) -> dict:
    """The contract's keyword options of ``shape``'s option row (module docstring)."""
    option, n = shape.option, shape.kv_len
    if option == "causal":
        return {"causal": True}
    if option == "window":
        return {"window": (window_keys(n), 0)}
    if option == "alibi":
        return {"alibi_slopes": alibi_slopes(shape.layout.q_heads, device=device)}
    if option == "softcap":
        return {"softcap": SOFTCAP}
    if option == "mask":
        return {"mask": padding_mask(shape.batch, n, device)}
    if option == "lse":
        return {"return_lse": True}
    return {}


def window_keys(length: int) -> int:
    """The left width of the sliding window on a row of ``length`` keys (at least 1)."""
    return max(1, min(WINDOW_KEYS, length // 4))


def padding_mask(batch: int, length: int, device: torch.device) -> torch.Tensor:
    """bool [B, 1, 1, Lk]: sequence b attends to its first max(1, L (1 - b/4)) keys."""
    keep = torch.tensor([max(1, length - (b * length) // 4) for b in range(batch)], device=device)
    return (torch.arange(length, device=device)[None, :] < keep[:, None])[:, None, None, :]


def plan(shapes: list[Shape], spec: KernelSpec, device: str,
         free_bytes: int | None) -> list[tuple[BenchCase, str | None]]:
    """Every case of ``shapes`` for a kernel declaring ``spec``, each with the reason it is
    skipped (None when it runs): model rows in every declared dtype, option rows in the first
    declared dtype of DTYPE_ORDER; ``free_bytes`` is the device's free memory (None on CPU)."""
    declared = [d for d in DTYPE_ORDER if d in spec.dtypes]
    cases = []
    for shape in shapes:
        for dtype in declared if shape.row == "model" else declared[:1]:
            case = BenchCase(shape, dtype, device)
            element_bytes = torch.tensor([], dtype=getattr(torch, dtype)).element_size()
            reason = case.why_not(spec) or memory_reason(shape, element_bytes, free_bytes)
            cases.append((case, reason))
    return cases
