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

from attnspec.oracles.certified import certified_attention
from attnspec.oracles.fast_exact import fast_exact_attention
from attnspec.oracles.problem import AttentionProblem

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
