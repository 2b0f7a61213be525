"""Tier 2 held against tier 1: the comparison used by the tests, the benchmarks and the docs.

What it does: compare_to_certified measures a fast_exact.FastExactAttention against a
certified.CertifiedAttention of the same problem in exact arithmetic (mpmath at 2200 bits holds
any sum of two doubles exactly) and returns a TierComparison: correct digits in the accuracy
measure of fast_exact's module docstring (error relative to sigma_ic = sum_j w_ij |v_jc|; lse
relative to max(|lse|, 1)), the digits its bound certifies, and the elements where the tier-2
bound plus the tier-1 radius fails to cover the difference (docs/oracles.md).

Sources: the accuracy measure and the resolvable scale RESOLVABLE_SIGMA are fast_exact.py's;
the tier-1 values and radii are certified.py's (Arb ball arithmetic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import numpy as np

from attnspec.oracles.attention.fast_exact.driver import RESOLVABLE_SIGMA, FastExactAttention
from attnspec.oracles.attention.problem import AttentionProblem


@dataclass(frozen=True)
class TierComparison:
    """Tier 2 held against tier 1 on the same problem.

    digits: -log10 max_ic |out2 - out1| / sigma_ic (the accuracy measure of fast_exact's
    module docstring; sigma from tier 1); lse_digits: -log10 max_i |lse2 - lse1| / max(|lse1|, 1);
    elementwise_digits: -log10 max |out2 - out1| / |out1| over nonzero outputs (for
    information: elements that are small by cancellation have fewer); bound_digits: the same
    measure for tier 2's own bound (what it certifies); violations: elements where
    |tier2 - tier1 midpoint| > tier-2 bound + tier-1 radius (out and lse together; 0 if the
    bound is honest). An element with sigma = 0 (exactly 0) counts as exact only if tier 2
    returns exactly 0. Elements with sigma_ic < RESOLVABLE_SIGMA * max_j |v_jc| (given the
    problem), or whose sigma underflows float64, are left out of ``digits`` and ``bound_digits``
    (not of ``violations``): their size comes from weights below 2^-1022 of the row's largest,
    which tier 2 flushes to zero (fast_exact's module docstring); ``unresolved`` counts them.
    """

    digits: float
    lse_digits: float
    elementwise_digits: float
    bound_digits: float
    violations: int
    unresolved: int = 0


def _error_against_bound(hi, lo, exact, bound, radius) -> tuple[mpmath.mpf, bool]:
    """|hi + lo - exact| in the caller's mpmath precision, and whether it exceeds tier 2's stated
    bound plus tier 1's certified radius (the exact value lies within the radius of ``exact``)."""
    err = abs(mpmath.mpf(float(hi)) + mpmath.mpf(float(lo)) - exact)
    return err, bool(err > mpmath.mpf(float(bound)) + mpmath.mpf(float(radius)))


def compare_to_certified(
    fast: FastExactAttention, certified, problem: AttentionProblem | None = None
) -> TierComparison:
    """Compare a FastExactAttention with a certified.CertifiedAttention of the same problem,
    in exact arithmetic (mpmath at 2200 bits holds any sum of two doubles exactly). With the
    problem given, elements below the resolvable scale are reported apart (TierComparison)."""
    floor = np.zeros(fast.out_hi.shape)
    if problem is not None:
        vmax = np.max(np.abs(problem.v), axis=2)  # [B, Hk, Dv]
        vmax = np.repeat(vmax, problem.group_size, axis=1)[:, :, None, :]
        floor = np.broadcast_to(RESOLVABLE_SIGMA * vmax, fast.out_hi.shape)
    unresolved = 0
    worst = 0.0
    worst_el = 0.0
    worst_bound = 0.0
    worst_lse = 0.0
    violations = 0
    with mpmath.workprec(2200):
        for idx in np.ndindex(fast.out_hi.shape):
            exact = certified.out[idx]
            err, breached = _error_against_bound(fast.out_hi[idx], fast.out_lo[idx], exact,
                                                 fast.out_error_bound[idx],
                                                 certified.out_radius[idx])
            violations += breached
            sigma = float(certified.out_scale[idx])
            if exact == 0 and sigma == 0:  # exactly zero (all terms zero): must be exact
                if err != 0:
                    worst = math.inf
            elif sigma < floor[idx] or sigma == 0:  # the scale underflows or is unresolvable
                unresolved += 1
            else:
                worst = max(worst, float(err / sigma))
                worst_bound = max(worst_bound, float(fast.out_error_bound[idx]) / sigma)
            if exact != 0:
                worst_el = max(worst_el, float(err / abs(exact)))
        for idx in np.ndindex(fast.lse_hi.shape):
            if certified.empty[idx]:
                if not (fast.empty[idx] and fast.lse_hi[idx] == -np.inf):
                    violations += 1
                    worst_lse = math.inf
                continue
            exact = certified.lse[idx]
            err, breached = _error_against_bound(fast.lse_hi[idx], fast.lse_lo[idx], exact,
                                                 fast.lse_error_bound[idx],
                                                 certified.lse_radius[idx])
            violations += breached
            worst_lse = max(worst_lse, float(err / max(abs(exact), 1)))

    def digits(x):
        return math.inf if x == 0 else -math.log10(x)

    return TierComparison(digits(worst), digits(worst_lse), digits(worst_el), digits(worst_bound),
                          violations, unresolved)
