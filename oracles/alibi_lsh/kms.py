"""Kac-Murdock-Szego facts about the multiplicative ALiBi matrix P_ij = rho^|i-j|, rho = e^(-slope).

Claims (docs/claims.md section 2; [L] Kac, Murdock, Szego 1953 for the matrix, [D] the forms):

- Spectrum: every eigenvalue of P (n >= 1, slope > 0) lies in the open interval
  ((1 - rho)/(1 + rho), (1 + rho)/(1 - rho)) = (tanh(slope/2), coth(slope/2)): P is the section
  of the Toeplitz operator with symbol (1 - rho^2)/(1 - 2 rho cos t + rho^2), whose range is
  that interval. So ||P||_2 < coth(slope/2) = coth(1/(2 sigma)), sigma = 1/slope, for every n.
- Inverse: P^-1 = (1 - rho^2)^-1 tridiag(-rho; 1, 1 + rho^2, ..., 1 + rho^2, 1; -rho)
  (n = 1: P^-1 = 1).
- Total sum, the expected cost of one mask: 1^T P 1 = sum_ij rho^|i-j|
  = n (1 + rho)/(1 - rho) - 2 rho (1 - rho^n)/(1 - rho)^2, and since E[M] = P for either scheme,
  1^T P 1 = E[sum_ij M_ij] = E[sum over blocks of size^2], the expected number of (query, key)
  pairs one mask makes a kernel compute. About n coth(slope/2) ~ 2 n sigma when n >> sigma.

Domain: slope > 0 finite (slope = 0: P is all ones, singular; its total sum is n^2), n >= 1.
Precision: float64 results within a few ulps; the total sum is evaluated in mpmath (the closed
form cancels when slope n is small) and rounded once.
"""

from __future__ import annotations

import math

import numpy as np
from mpmath import mp


def kms_spectrum_interval(slope: float) -> tuple[float, float]:
    """(tanh(slope/2), coth(slope/2)): the open interval holding spec(P) for every n."""
    half = 0.5 * float(slope)
    return math.tanh(half), 1.0 / math.tanh(half)


def kms_inverse(n: int, slope: float) -> np.ndarray:
    """P^-1 float64 [n, n], the tridiagonal closed form (slope > 0)."""
    if slope <= 0:
        raise ValueError(f"P is singular for slope <= 0, got {slope!r}")
    if n == 1:
        return np.ones((1, 1))
    rho = math.exp(-slope)
    scale = -1.0 / math.expm1(-2.0 * slope)  # 1/(1 - rho^2)
    inverse = np.zeros((n, n))
    diagonal = np.full(n, 1.0 + rho * rho)
    diagonal[[0, -1]] = 1.0
    inverse[np.arange(n), np.arange(n)] = diagonal * scale
    off = np.arange(n - 1)
    inverse[off, off + 1] = inverse[off + 1, off] = -rho * scale
    return inverse


def kms_inverse_mp(n: int, slope, dps: int = 50) -> mp.matrix:
    """The same tridiagonal closed form in mpmath at ``dps`` digits."""
    if n == 1:
        return mp.matrix([[1]])
    with mp.workdps(dps):
        rho = mp.exp(-mp.mpf(slope))
        scale = -1 / mp.expm1(-2 * mp.mpf(slope))  # 1/(1 - rho^2)
        inverse = mp.matrix(n, n)
        for i in range(n):
            inverse[i, i] = scale * (1 if i in (0, n - 1) else 1 + rho ** 2)
            if i + 1 < n:
                inverse[i, i + 1] = inverse[i + 1, i] = -rho * scale
        return inverse


def kms_total_sum_mp(n: int, slope, dps: int = 30):
    """1^T P 1 by the closed form n (1 + rho)/(1 - rho) - 2 rho (1 - rho^n)/(1 - rho)^2 (mpmath)."""
    with mp.workdps(dps + 10 + int(mp.log10(max(n, 2)) * 2)):  # the closed form cancels ~ n^2 slope
        m = mp.mpf(slope)
        if m == 0:
            return mp.mpf(n) ** 2
        rho = mp.exp(-m)
        one_minus = -mp.expm1(-m)
        value = n * (1 + rho) / one_minus - 2 * rho * (-mp.expm1(-n * m)) / one_minus ** 2
    with mp.workdps(dps):
        return +value


def expected_mask_cost(n: int, slope: float) -> float:
    """E[sum over blocks of size^2] = 1^T P 1 for n positions, float64 (slope >= 0)."""
    return float(kms_total_sum_mp(n, slope, dps=20))
