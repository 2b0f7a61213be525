"""The attention problem an oracle solves, held as exact values.

Claim (elementary, docs/kernel-contract.md "What correct means"): every floating-point input of a
kernel (fp16, bf16, fp32, fp64) is a dyadic rational, and converting it to float64 is exact.
An oracle therefore works from float64 copies of the kernel's inputs and answers for exactly
the problem the kernel was given, not for a rounded neighbour of it.

The oracles never import torch: callers convert tensors with
``t.detach().to("cpu", torch.float64).numpy()``, which is exact for every floating dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CAUSAL_ALIGNMENTS = ("top_left", "bottom_right")


def exact_float64(name: str, array, ndim: int) -> np.ndarray:
    """``array`` as float64 without rounding; reject what is not a finite real array."""
    a = np.asarray(array)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a real array, got dtype {a.dtype}")
    if a.dtype.kind == "f" and a.dtype.itemsize > 8:
        raise TypeError(f"{name}: {a.dtype} would be rounded by float64; pass float64 or narrower")
    out = a.astype(np.float64)
    if a.dtype.kind in "iu" and not np.array_equal(out.astype(a.dtype), a):
        raise ValueError(f"{name}: integers too large to convert to float64 exactly")
    if out.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {a.shape}")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name}: the contract defines attention of finite inputs only")
    return np.ascontiguousarray(out)


@dataclass(frozen=True)
class AttentionProblem:
    """Inputs and options of one call under the kernel contract.

    q [B, Hq, Lq, D], k [B, Hk, Lk, D], v [B, Hk, Lk, Dv], all float64 holding the kernel's
    exact input values. Options as in docs/kernel-contract.md:

    scale         None means exactly 1/sqrt(D) (irrational in general; oracles evaluate it
                  to their own precision), else the given float64 value.
    causal        None, "top_left" (j <= i) or "bottom_right" (j <= i + Lk - Lq).
    alibi_slopes  [Hq] float64; bias_ij = -slope_h * |i + (Lk - Lq) - j|.
    mask          bool, broadcast to [B, Hq, Lq, Lk]; True means the key may be attended.
    window        (left, right), bottom-right aligned; None on a side means unbounded.
    softcap       c > 0: scores become c * tanh(scale * <q, k> / c) before the bias.

    Build instances with :meth:`build`, which validates and converts.
    """

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    scale: float | None = None
    causal: str | None = None
    alibi_slopes: np.ndarray | None = None
    mask: np.ndarray | None = None
    window: tuple[int | None, int | None] | None = None
    softcap: float | None = None

    @classmethod
    def build(
        cls,
        q,
        k,
        v,
        *,
        scale: float | None = None,
        causal: str | bool | None = None,
        alibi_slopes=None,
        mask=None,
        window=None,
        softcap: float | None = None,
    ) -> "AttentionProblem":
        q = exact_float64("q", q, 4)
        k = exact_float64("k", k, 4)
        v = exact_float64("v", v, 4)
        B, Hq, Lq, D = q.shape
        if k.shape[0] != B or v.shape[0] != B:
            raise ValueError(f"batch sizes differ: q {q.shape}, k {k.shape}, v {v.shape}")
        Hk, Lk = k.shape[1], k.shape[2]
        if k.shape[3] != D:
            raise ValueError(f"q and k head dims differ: {D} vs {k.shape[3]}")
        if v.shape[1] != Hk or v.shape[2] != Lk:
            raise ValueError(f"k {k.shape} and v {v.shape} disagree on heads or length")
        if min(B, Hq, Hk, D, v.shape[3]) == 0:
            raise ValueError("empty batch, head or feature dimension")
        if Hq % Hk != 0:
            raise ValueError(f"Hq={Hq} is not a multiple of Hk={Hk}")

        if scale is not None:
            scale = float(scale)
            if not math.isfinite(scale):
                raise ValueError(f"scale must be finite, got {scale}")

        if causal is False:
            causal = None
        if causal is True:
            raise ValueError("causal=True is ambiguous here: say 'top_left' or 'bottom_right'")
        if causal is not None and causal not in CAUSAL_ALIGNMENTS:
            raise ValueError(f"causal must be one of {CAUSAL_ALIGNMENTS} or None, got {causal!r}")

        if alibi_slopes is not None:
            alibi_slopes = exact_float64("alibi_slopes", alibi_slopes, 1)
            if alibi_slopes.shape != (Hq,):
                raise ValueError(f"alibi_slopes must have shape [{Hq}], got {alibi_slopes.shape}")

        if mask is not None:
            m = np.asarray(mask)
            if m.dtype != np.bool_:
                raise TypeError(f"mask must be boolean (True = may attend), got {m.dtype}")
            if m.ndim > 4:
                raise ValueError(f"mask has {m.ndim} dimensions; at most 4 broadcast to [B,Hq,Lq,Lk]")
            try:
                mask = np.broadcast_to(m, (B, Hq, Lq, Lk))
            except ValueError:
                raise ValueError(
                    f"mask of shape {m.shape} does not broadcast to {(B, Hq, Lq, Lk)}"
                ) from None

        if window is not None:
            if len(window) != 2:
                raise ValueError(f"window must be (left, right), got {window!r}")
            sides = []
            for side, name in zip(window, ("left", "right")):
                if side is not None:
                    if int(side) != side or side < 0:
                        raise ValueError(
                            f"window {name} must be a non-negative integer or None "
                            f"(unbounded), got {side!r}"
                        )
                    side = int(side)
                sides.append(side)
            window = (sides[0], sides[1])

        if softcap is not None:
            softcap = float(softcap)
            if not (math.isfinite(softcap) and softcap > 0):
                raise ValueError(f"softcap must be a positive finite number, got {softcap}")

        return cls(q, k, v, scale, causal, alibi_slopes, mask, window, softcap)

    # Shapes, named as in the contract.
    @property
    def batch(self) -> int:
        return self.q.shape[0]

    @property
    def q_heads(self) -> int:
        return self.q.shape[1]

    @property
    def kv_heads(self) -> int:
        return self.k.shape[1]

    @property
    def q_len(self) -> int:
        return self.q.shape[2]

    @property
    def kv_len(self) -> int:
        return self.k.shape[2]

    @property
    def head_dim(self) -> int:
        return self.q.shape[3]

    @property
    def value_dim(self) -> int:
        return self.v.shape[3]

    @property
    def group_size(self) -> int:
        """Query heads per kv head: query head h reads kv head h // group_size."""
        return self.q_heads // self.kv_heads

    @property
    def offset(self) -> int:
        """Lk - Lq: the bottom-right alignment's shift of query row i to key column i + offset."""
        return self.kv_len - self.q_len
