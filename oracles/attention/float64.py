"""A float64 evaluation of attention, for sizing budgets (not for judging).

Metamorphic properties compare a kernel with itself; they need the size of each output and its
weights to compute error budgets, not the exact value. float64 gives those to ~1e-15 relative,
which changes a budget by as much and never a verdict, at any shape.
"""

from __future__ import annotations

import numpy as np

from attnspec.oracles.attention.problem import AttentionProblem
from attnspec.oracles.attention.visibility import alibi_distance, visible_keys


def attention64(problem: AttentionProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(out [B, Hq, Lq, Dv], lse [B, Hq, Lq], empty [B, Hq, Lq]) in float64."""
    p = problem
    k = np.repeat(p.k, p.group_size, axis=1)
    v = np.repeat(p.v, p.group_size, axis=1)
    scale = 1 / np.sqrt(p.head_dim) if p.scale is None else p.scale
    s = scale * (p.q @ np.swapaxes(k, -1, -2))
    if p.softcap is not None:
        s = p.softcap * np.tanh(s / p.softcap)
    if p.alibi_slopes is not None:
        s = s - p.alibi_slopes[None, :, None, None] * alibi_distance(p)[None, None]
    visible = visible_keys(p)
    s = np.where(visible, s, -np.inf)
    m = s.max(axis=-1, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0.0)
    w = np.exp(s - m)
    total = w.sum(axis=-1, keepdims=True)
    empty = total[..., 0] == 0
    out = np.divide(w @ v, total, out=np.zeros(w.shape[:-1] + (v.shape[-1],)), where=total > 0)
    with np.errstate(divide="ignore"):
        lse = (m + np.log(total))[..., 0]
    return out, lse, empty
