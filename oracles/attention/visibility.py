"""Which keys a query may attend, and the ALiBi bias, as whole arrays.

Claim (elementary, docs/kernel-contract.md): key j is visible to query i of head h in batch b iff
the mask allows it, causal allows it (top_left: j <= i; bottom_right: j <= i + Lk - Lq), and
the window (left, right) allows it (i + Lk - Lq - left <= j <= i + Lk - Lq + right). ALiBi adds
-slope_h * |i + Lk - Lq - j| to the score.

This vectorised form serves the fast oracle (tier 2). The certified oracle (tier 1) transcribes
the same rules row by row in its own code, so that tests holding one tier against the other
also check these rules twice.
"""

from __future__ import annotations

import numpy as np

from attnspec.oracles.attention.problem import AttentionProblem


def visible_keys(problem: AttentionProblem) -> np.ndarray:
    """bool [B, Hq, Lq, Lk]: True where query i may attend key j."""
    p = problem
    i = np.arange(p.q_len)[:, None]
    j = np.arange(p.kv_len)[None, :]
    visible = np.ones((p.q_len, p.kv_len), dtype=bool)
    if p.causal == "top_left":
        visible &= j <= i
    elif p.causal == "bottom_right":
        visible &= j <= i + p.offset
    if p.window is not None:
        left, right = p.window
        if left is not None:
            visible &= j >= i + p.offset - left
        if right is not None:
            visible &= j <= i + p.offset + right
    full = np.broadcast_to(visible, (p.batch, p.q_heads, p.q_len, p.kv_len))
    if p.mask is not None:
        full = full & p.mask
    return full


def alibi_distance(problem: AttentionProblem) -> np.ndarray:
    """int64 [Lq, Lk]: |i + (Lk - Lq) - j|, the distance ALiBi's slope multiplies."""
    i = np.arange(problem.q_len, dtype=np.int64)[:, None]
    j = np.arange(problem.kv_len, dtype=np.int64)[None, :]
    return np.abs(i + problem.offset - j)


def empty_rows(visible: np.ndarray) -> np.ndarray:
    """bool [B, Hq, Lq]: rows with no visible key (out = 0, lse = -inf under "zero")."""
    return ~visible.any(axis=-1)
