"""Attention over scores in arithmetic progression: geometric weights, closed-form output.

Claim (elementary): if a query's scores over n keys are s_j = s_0 - delta j (j = 0..n-1,
delta > 0), the weights are geometric, w_j = rho^j (1 - rho) / (1 - rho^n) with
rho = e^-delta, and
    lse = s_0 + log((1 - rho^n) / (1 - rho)),
    sum_j w_j j          = rho / (1 - rho) - n rho^n / (1 - rho^n),
    sum_j w_j cos(theta j) = Re[(1 - z^n) / (1 - z)] (1 - rho) / (1 - rho^n),  z = rho e^(i theta).
So attention with values v_j = (1, j / n, cos(theta j)) has an exact output in closed form at
any n, with no O(n) work: an analytic oracle for context lengths where no brute-force reference
is affordable.

Inputs realising it exactly (``progression_inputs``): D = 4, scale 1/2 (exact), q = (1, 0, 0, 0),
k_j = (2 (s_0 - delta j), 0, 0, 0). With delta = 2^-m and n < 2^24 every k_j is exact in float32
(and float64); the cosine column is the one value that must be rounded, so the oracle takes the
values as given (the rounded cosines) and sums them exactly in mpmath only when asked; the
closed form serves the columns 1 and j/n, which are exact in float32 for n a power of two.

Domain: delta > 0, n >= 1. Precision: mpmath at ``dps`` digits, scoped.
"""

from __future__ import annotations

import mpmath
import numpy as np


def geometric_attention(s0: float, delta: float, n: int, theta: float = 0.0, dps: int = 40):
    """(out, lse): out = (1, E[j] / n, E[cos(theta j)]) under w_j ∝ exp(s0 - delta j)."""
    if not (delta > 0 and n >= 1):
        raise ValueError(f"need delta > 0 and n >= 1, got delta={delta}, n={n}")
    with mpmath.mp.workdps(dps):
        d = mpmath.mpf(delta)
        rho = mpmath.exp(-d)
        one_minus_rho = -mpmath.expm1(-d)  # 1 - rho without cancellation for small delta
        one_minus_rho_n = -mpmath.expm1(-d * n)
        lse = mpmath.mpf(s0) + mpmath.log(one_minus_rho_n / one_minus_rho)
        mean_j = rho / one_minus_rho - n * mpmath.exp(-d * n) / one_minus_rho_n
        z = rho * mpmath.expj(mpmath.mpf(theta))
        mean_cos = mpmath.re((1 - z**n) / (1 - z)) * one_minus_rho / one_minus_rho_n
        return [mpmath.mpf(1), mean_j / n, mean_cos], lse


def progression_inputs(s0: float, delta: float, n: int, theta: float = 0.0):
    """q [1, 1, 1, 4], k [1, 1, n, 4], v [1, 1, n, 3] (float64) realising the progression with
    scale 1/2; columns of v: 1, j / n, cos(theta j)."""
    j = np.arange(n, dtype=np.float64)
    q = np.zeros((1, 1, 1, 4))
    q[..., 0] = 1.0
    k = np.zeros((1, 1, n, 4))
    k[0, 0, :, 0] = 2.0 * (s0 - delta * j)
    v = np.stack([np.ones(n), j / n, np.cos(theta * j)], axis=-1)[None, None]
    return q, k, v
