"""The exact gradients for a property to compare against, from the cheapest certain tier.

Tier 1 (certified_gradients.py, Arb balls, >= 30 certified digits) serves small problems;
tier 2 (fast_exact/gradients.py, exact products and double-double sums) larger ones, with its
derived elementwise bound. Both are far below the tightest budget they serve (fp64 kernels:
~1e-16 of an element's natural scale), so the choice never changes a verdict; the rounded
float64 value of either is what a comparison uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnspec.oracles.attention.certified_gradients import certified_gradients
from attnspec.oracles.attention.fast_exact.gradients import fast_exact_gradients
from attnspec.oracles.attention.gradient_problem import GradientProblem

# Tier 1 does ~4 products of the size of the forward's; below this many
# B * Hq * Lq * Lk * (D + Dv) it answers in about a second.
TIER1_WORK_LIMIT = 300_000


@dataclass(frozen=True)
class ExactGradients:
    """dq [B, Hq, Lq, D], dk [B, Hk, Lk, D], dv [B, Hk, Lk, Dv]: float64 nearest the exact
    values; empty [B, Hq, Lq] the rows with no visible key; tier the one that answered."""

    dq: np.ndarray
    dk: np.ndarray
    dv: np.ndarray
    empty: np.ndarray
    tier: str

    def tensors(self) -> dict[str, np.ndarray]:
        return {"dq": self.dq, "dk": self.dk, "dv": self.dv}


def exact_gradients(problem: GradientProblem) -> ExactGradients:
    f = problem.forward
    work = f.batch * f.q_heads * f.q_len * f.kv_len * (f.head_dim + f.value_dim)
    if work <= TIER1_WORK_LIMIT:
        return exact_gradients_certified(problem)
    try:
        r = fast_exact_gradients(problem)
    except ValueError:
        # outside tier 2's domain (entries too far below a matrix's largest): tier 1 has no
        # such limit, only a higher cost
        return exact_gradients_certified(problem)
    return ExactGradients(r.dq_hi + r.dq_lo, r.dk_hi + r.dk_lo, r.dv_hi + r.dv_lo, r.empty,
                          "fast exact")


def exact_gradients_certified(problem: GradientProblem) -> ExactGradients:
    r = certified_gradients(problem, digits=30)
    g = r.as_float64()
    return ExactGradients(g["dq"], g["dk"], g["dv"], r.empty, "certified")
