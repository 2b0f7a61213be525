"""Present a [B, L, H, D] kernel (flash-attn's layout) as a [B, H, L, D] one.

The inputs are handed over as transposed views (no copy: the kernel sees the strides a real
[B, L, H, D] caller would give it only when the caller's tensors were [B, L, H, D] to begin
with, which the suite's "transposed" layout provides), and the output [B, Lq, Hq, Dv] is
transposed back. The LSE stays [B, Hq, Lq], as the contract defines it.
"""

from __future__ import annotations

import functools

import torch


def from_blhd(kernel):
    @functools.wraps(kernel)
    def bhld_kernel(q, k, v, **kwargs):  # q [B, Hq, Lq, D]
        result = kernel(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), **kwargs)
        if isinstance(result, tuple) and len(result) == 2:
            out, lse = result
            return _back(out), lse
        return _back(result)

    return bhld_kernel


def _back(out):
    """[B, Lq, Hq, Dv] -> [B, Hq, Lq, Dv]; anything else passes through for the suite to judge."""
    return out.transpose(1, 2) if isinstance(out, torch.Tensor) and out.dim() == 4 else out
