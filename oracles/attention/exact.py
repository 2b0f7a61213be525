"""The exact answer for a property to compare against, from the cheapest oracle tier that is
certain enough.

Tier 1 (certified, Arb balls) serves small problems; its values carry >= 30 certified digits.
Tier 2 (double-double over exact float64 products) serves larger ones with a stated bound of
~1e-30 relative to each output's scale. Either is ~1e14 below the tightest budget it serves
(fp64 kernels: ~1e-16), so the choice never changes a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnspec.oracles.attention.certified import certified_attention
from attnspec.oracles.attention.fast_exact.driver import fast_exact_attention
from attnspec.oracles.attention.geometric_attention import geometric_attention
from attnspec.oracles.attention.problem import AttentionProblem

# Tier 1 costs ~3 s per 1e6 score entries of width ~256 (D + Dv); below this many
# B * Hq * Lq * Lk * (D + Dv) it answers in well under a second.
TIER1_WORK_LIMIT = 2_000_000


@dataclass(frozen=True)
class ExactAttention:
    """out [B, Hq, Lq, Dv], lse [B, Hq, Lq] (float64 nearest to the exact values), empty rows."""

    out: np.ndarray
    lse: np.ndarray
    empty: np.ndarray
    tier: str


def exact_attention(problem: AttentionProblem) -> ExactAttention:
    work = problem.batch * problem.q_heads * problem.q_len * problem.kv_len * (
        problem.head_dim + problem.value_dim
    )
    if work <= TIER1_WORK_LIMIT:
        return exact_attention_certified(problem)
    try:
        r = fast_exact_attention(problem)
    except ValueError:
        # Outside tier 2's domain (entries below 2^-1000 of a matrix's largest): tier 1 has no
        # such limit, only a higher cost.
        return exact_attention_certified(problem)
    # hi + lo rounded to float64: the nearest double to a value good to ~30 digits.
    return ExactAttention(r.out_hi + r.out_lo, r.lse_hi + r.lse_lo, r.empty, "fast exact")


def exact_attention_certified(problem: AttentionProblem) -> ExactAttention:
    r = certified_attention(problem, digits=30)
    return ExactAttention(r.out.astype(np.float64), r.lse.astype(np.float64), r.empty, "certified")


def exact_progression(problem: AttentionProblem, beta: float, reversed_order: bool):
    """The closed form for a progression case (properties/attention/cases.py), or None when the inputs
    the kernel got are not exactly that progression (rounded by a narrow dtype): then the
    general oracle must answer."""
    B, Hq, Lq, Lk, Dv = (problem.batch, problem.q_heads, problem.q_len, problem.kv_len,
                         problem.value_dim)
    scale = 1 / np.sqrt(problem.head_dim) if problem.scale is None else problem.scale
    j = np.arange(Lk, dtype=np.float64)
    order = j[::-1] if reversed_order else j
    q = np.zeros_like(problem.q)
    q[..., 0] = 1.0
    v = np.zeros_like(problem.v)
    v[..., 0], v[..., 1] = 1.0, j / Lk
    exact = (
        np.array_equal(problem.q, q)
        and np.array_equal(problem.k[..., 0], np.broadcast_to((8.0 - beta * order) / scale,
                                                              problem.k.shape[:-1]))
        and not problem.k[..., 1:].any()
        and np.array_equal(problem.v, v)
        and problem.mask is None and problem.causal is None and problem.window is None
        and problem.alibi_slopes is None and problem.softcap is None
        # the kernel's scores scale * q . k must be exactly 8 - beta j
        and np.array_equal(scale * ((8.0 - beta * order) / scale), 8.0 - beta * order)
    )
    if not exact:
        return None
    columns, lse = geometric_attention(8.0, beta, Lk)
    mean_position = float(columns[1])  # E[rank] / Lk, rank 0 = largest score
    if reversed_order:  # position j has rank Lk - 1 - j
        mean_position = (Lk - 1) / Lk - mean_position
    out = np.zeros((B, Hq, Lq, Dv))
    out[..., 0], out[..., 1] = 1.0, mean_position
    return ExactAttention(out, np.full((B, Hq, Lq), float(lse)), np.zeros((B, Hq, Lq), bool),
                          "closed form (geometric weights)")
