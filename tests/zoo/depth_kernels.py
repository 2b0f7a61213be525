"""Kernels for the depth test (docs/mean-field.md "Depth test"): each is a correct dense or tiled
kernel with one systematic error whose single-call size is inside or near the forward budget of
its declared dtype, the kind that a flow of hundreds of calls may compound. They declare
themselves as a user would (a plain dict, no attnspec import). tests/properties/mean_field
runs the mean_field laws on them; docs/mean-field.md tabulates which laws separate which kernel
from the correct ones, and at what horizon.
"""

from __future__ import annotations

import math

import torch

BASE = {"mask": True, "lse": True, "empty_rows": "zero", "rounds_p": False}


def declare(dtypes, **changes):
    def attach(fn):
        fn.attnspec = {**BASE, "dtypes": list(dtypes), **changes}
        return fn

    return attach


def _dense(q, k, v, *, scale=None, mask=None, return_lse=False, eps=0.0, scale_factor=1.0,
           p_dtype=None):
    acc = torch.promote_types(q.dtype, torch.float32)
    sm = (1 / math.sqrt(q.shape[-1]) if scale is None else scale) * scale_factor
    s = (q.to(acc) @ k.to(acc).transpose(-1, -2)) * sm  # [B, H, Lq, Lk]
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    m = s.amax(-1, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    p = torch.exp(s - m)
    total = p.sum(-1, keepdim=True) + eps  # BUG hook: a denominator epsilon
    if p_dtype is not None:  # BUG hook: P rounded to p_dtype before P @ V
        p = p.to(p_dtype).to(acc)
    out = torch.where(total > 0, (p @ v.to(acc)) / total, torch.zeros_like(total)).to(q.dtype)
    if not return_lse:
        return out
    return out, (m + torch.log(total)).squeeze(-1)


def _tiled(q, k, v, *, scale=None, mask=None, return_lse=False, block=4, running=None):
    acc = torch.promote_types(q.dtype, torch.float32)
    keep = running or acc  # BUG hook: the dtype the running output is stored in between tiles
    s_all = (q.to(acc) @ k.to(acc).transpose(-1, -2)) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if mask is not None:
        s_all = s_all.masked_fill(~mask, float("-inf"))
    B, H, Lq, _ = q.shape
    m = torch.full((B, H, Lq, 1), float("-inf"), dtype=acc, device=q.device)
    total = torch.zeros((B, H, Lq, 1), dtype=acc, device=q.device)
    out = torch.zeros((B, H, Lq, v.shape[-1]), dtype=keep, device=q.device)
    for start in range(0, k.shape[2], block):
        s = s_all[..., start:start + block]
        new = torch.maximum(m, s.amax(-1, keepdim=True))
        shift = torch.where(torch.isfinite(new), new, torch.zeros_like(new))
        alpha = torch.exp(m - shift)
        p = torch.exp(s - shift)
        total = total * alpha + p.sum(-1, keepdim=True)
        out = (out.to(acc) * alpha + p @ v[:, :, start:start + block].to(acc)).to(keep)
        m = new
    res = torch.where(total > 0, out.to(acc) / total, torch.zeros_like(total)).to(q.dtype)
    return (res, (m + torch.log(total)).squeeze(-1)) if return_lse else res


# --------------------------------------------------------------------------------- controls


@declare(["float32"])
def control_dense_f32(q, k, v, **kw):
    """No bug: the dense base in float32."""
    return _dense(q, k, v, **kw)


@declare(["float32"])
def control_tiled_f32(q, k, v, **kw):
    """No bug: the tiled base (4-key tiles) in float32."""
    return _tiled(q, k, v, **kw)


@declare(["float64"])
def control_dense_f64(q, k, v, **kw):
    """No bug: the dense base in float64."""
    return _dense(q, k, v, **kw)


# ------------------------------------------------------------------------------------- bugs


@declare(["float32"])
def denominator_epsilon_f32(q, k, v, **kw):
    """Adds 1e-6 to the softmax denominator (the main zoo's bug, declared float32 only): a
    relative error of 1e-6 / l in every output, near the float32 budget."""
    return _dense(q, k, v, eps=1e-6, **kw)


@declare(["float32"])
def denominator_epsilon_tiny_f32(q, k, v, **kw):
    """Adds 1e-9 to the denominator: 1e-9 / l, far inside the float32 budget."""
    return _dense(q, k, v, eps=1e-9, **kw)


@declare(["float64"])
def denominator_epsilon_f64(q, k, v, **kw):
    """Adds 1e-12 to the denominator of a float64 kernel (1e-12 / l: outside the float64
    budget of a single call, which catches it)."""
    return _dense(q, k, v, eps=1e-12, **kw)


@declare(["float32"])
def bf16_running_output_f32(q, k, v, **kw):
    """Online softmax (4-key tiles) whose running output is stored in bfloat16 between tiles."""
    return _tiled(q, k, v, running=torch.bfloat16, **kw)


@declare(["float32"])
def p_rounded_to_bfloat16_f32(q, k, v, **kw):
    """Rounds P to bfloat16 before P @ V while declaring rounds_p False (a float32 kernel that
    reuses a bfloat16 matmul path)."""
    return _dense(q, k, v, p_dtype=torch.bfloat16, **kw)


@declare(["float32"])
def scale_off_by_2e_minus_20_f32(q, k, v, **kw):
    """Multiplies the scale by 1 + 2^-20 (a scale precomputed as a rounded reciprocal of a
    rounded square root, then rounded again): a relative error of 1e-6 in every score."""
    return _dense(q, k, v, scale_factor=1 + 2.0**-20, **kw)


@declare(["float64"])
def scale_off_by_2e_minus_30_f64(q, k, v, **kw):
    """Multiplies the scale by 1 + 2^-30 in a float64 kernel (9e-10 relative in each score)."""
    return _dense(q, k, v, scale_factor=1 + 2.0**-30, **kw)


CONTROLS = [control_dense_f32, control_tiled_f32, control_dense_f64]
DEPTH_ZOO = [denominator_epsilon_f32, denominator_epsilon_tiny_f32, denominator_epsilon_f64,
             bf16_running_output_f32, p_rounded_to_bfloat16_f32, scale_off_by_2e_minus_20_f32,
             scale_off_by_2e_minus_30_f64]
