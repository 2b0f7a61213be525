"""Kernels for regression tracking (tests/properties/test_tracking.py): one correct float64
kernel, and the same kernel made less accurate but still inside its budget.

``accurate`` is plain dense attention in float64 (softmax, then P V). ``less_accurate`` is
``accurate`` with its output moved two ulps away from zero: a change no test at a fixed
tolerance would see, inside attnspec's budget for a float64 kernel (which allows a few ulps even
on one-key rows), but several times the error ``accurate`` makes where its budget is smallest,
so its worst err/tol grows by more than the default 2x against a baseline of ``accurate``. Both declare the same, so their reports compare.
"""

from __future__ import annotations

import torch

DECLARATION = {"dtypes": ["float64"], "causal": "bottom_right"}


def _dense(q, k, v, scale=None, causal=False):
    # q [B, H, Lq, D], k [B, H, Lk, D], v [B, H, Lk, Dv]
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    s = (q @ k.transpose(-1, -2)) * scale
    if causal:
        Lq, Lk = q.shape[-2], k.shape[-2]
        i = torch.arange(Lq, device=q.device)[:, None]
        j = torch.arange(Lk, device=q.device)[None, :]
        s = s.masked_fill(j > i + (Lk - Lq), float("-inf"))
    p = torch.softmax(s, dim=-1).nan_to_num(0.0)  # a row with no visible key: zeros
    return p @ v


def accurate(q, k, v, scale=None, causal=False):
    return _dense(q, k, v, scale, causal)


def less_accurate(q, k, v, scale=None, causal=False):
    # the correctly computed output moved away from zero by two ulps (an exact 0 stays 0)
    out = _dense(q, k, v, scale, causal)
    away = torch.where(out < 0, float("-inf"), float("inf")).to(out.dtype)
    moved = torch.nextafter(torch.nextafter(out, away), away)
    return torch.where(out == 0, out, moved)


accurate.attnspec = DECLARATION
less_accurate.attnspec = DECLARATION
