"""Kernels with the restrictions real libraries have, declared instead of wrapped: a causal
path that needs Lq == Lk (FlashAttention 1's, and many hand-written Triton kernels'), and a
kernel that takes a mask or causal but not both (PyTorch SDPA's attn_mask and is_causal)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def _sdpa(q, k, v, *, causal=False, mask=None, scale=None):
    # bhld; GQA by repeating kv heads; rows with no visible key: zero (the contract's "zero").
    # SDPA's math backend: its CPU flash kernel returns NaN for causal rows at scale=0
    # (docs/findings.md), which is not what these kernels are about.
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
    with sdpa_kernel(SDPBackend.MATH):
        if mask is not None:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
            return torch.where(mask.any(-1, keepdim=True), out, torch.zeros_like(out))
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)


def causal_square_only(q, k, v, *, causal=False, scale=None):
    """Causal attention only for Lq == Lk (top-left and bottom-right agree there)."""
    if causal and q.shape[2] != k.shape[2]:
        raise ValueError("causal attention needs Lq == Lk")
    return _sdpa(q, k, v, causal=causal, scale=scale)


causal_square_only.attnspec = {"dtypes": ["float32", "float64"], "causal": "bottom_right",
                               "gqa": True, "restrictions": ["causal_needs_equal_lengths"]}


def causal_square_only_undeclared(q, k, v, **kw):
    """The same kernel, its restriction not declared: every causal case with Lq != Lk raises."""
    return causal_square_only(q, k, v, **kw)


causal_square_only_undeclared.attnspec = {"dtypes": ["float32", "float64"],
                                          "causal": "bottom_right", "gqa": True}


def mask_or_causal(q, k, v, *, causal=False, mask=None, scale=None):
    """A mask or causal masking, never both (as SDPA's attn_mask and is_causal)."""
    if causal and mask is not None:
        raise ValueError("a mask and causal together are not supported")
    return _sdpa(q, k, v, causal=causal, mask=mask, scale=scale)


mask_or_causal.attnspec = {"dtypes": ["float32", "float64"], "causal": "top_left", "mask": True,
                           "restrictions": ["mask_excludes_causal"]}
