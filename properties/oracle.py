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
        r = certified_attention(problem, digits=30)
        return ExactAttention(r.out.astype(np.float64), r.lse.astype(np.float64), r.empty,
                              "certified")
    raise NotImplementedError("tier 2 oracle not wired yet")
