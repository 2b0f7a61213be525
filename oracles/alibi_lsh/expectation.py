"""The expectation of the random block masks is the multiplicative ALiBi matrix.

Claim (docs/claims.md section 2; [P] ALiBi's bias matrix is the expectation of the masks; [D] the
forms below): for either scheme of schemes.py, E[M_ij] = P_ij = exp(-slope |i - j|), P = exp(B)
elementwise with B the ALiBi bias, a Kac-Murdock-Szego matrix with rho = e^(-slope).

- Gap cuts: M_ij = 1 iff none of the |i - j| gaps between i and j is cut; the gaps are cut
  independently with probability 1 - rho, so E[M_ij] = rho^|i-j|. Checked here by exhaustive
  enumeration of all 2^(n-1) cut patterns with their probabilities, in mpmath.
- Random binning [C sampler]: given the width b, a shift xi ~ U(0, b) puts a bucket boundary in
  (i, j] (length d = |i - j|) except on a set of shifts of measure (b - d)_+, so
  P(same bucket | b) = (1 - d/b)_+ and, with b ~ Gamma(2, scale 1/slope) (density slope^2 b
  e^(-slope b)), E[M_ij] = int_d^inf (b - d) slope^2 e^(-slope b) db = e^(-slope d). Checked here
  by quadrature over b of the shift measure found by enumerating the bucket boundaries.
- Query rows of a contract problem sit at key positions i + (Lk - Lq) (docs/kernel-contract.md),
  so the expected mask restricted to the query rows is exp(-slope |i + Lk - Lq - j|); under a
  causal rule the mask is multiplied by the (deterministic) causal pattern L, so
  E[M o L] = P o L: the expected causal mask is causal ALiBi.

Domain: slope >= 0 finite; enumeration n <= 16 (2^(n-1) patterns), quadrature any distance.
Precision: float64 functions are correctly rounded up to numpy's exp (<= 1 ulp); mpmath
functions work at ``dps`` digits (with 10 guard digits inside quadratures).
"""

from __future__ import annotations

import numpy as np
from mpmath import mp


def kms_matrix(n: int, slope: float) -> np.ndarray:
    """P float64 [n, n], P_ij = exp(-slope |i - j|): the multiplicative ALiBi matrix."""
    d = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
    return np.exp(-float(slope) * d)


def alibi_expectation(q_len: int, kv_len: int, slope: float, causal: str | None = None) -> np.ndarray:
    """E[M o L] restricted to the query rows, float64 [Lq, Lk]: exp(-slope |i + Lk - Lq - j|) where
    key j is visible under ``causal`` (None, "top_left": j <= i, "bottom_right": j <= i + Lk - Lq),
    0 elsewhere."""
    i = np.arange(q_len)[:, None]
    j = np.arange(kv_len)[None, :]
    offset = kv_len - q_len
    expected = np.exp(-float(slope) * np.abs(i + offset - j))
    if causal == "top_left":
        expected[~(j <= i)] = 0.0
    elif causal == "bottom_right":
        expected[~(j <= i + offset)] = 0.0
    elif causal is not None:
        raise ValueError(f"causal must be None, 'top_left' or 'bottom_right', got {causal!r}")
    return expected


def kms_matrix_mp(n: int, slope, dps: int = 50) -> mp.matrix:
    """P as an mpmath matrix at ``dps`` digits (a float slope is read exactly; a string as a decimal)."""
    with mp.workdps(dps):
        rho = mp.exp(-mp.mpf(slope))
        return mp.matrix([[rho ** abs(i - j) for j in range(n)] for i in range(n)])


def gap_cut_expected_mask_enumerated(n: int, slope, dps: int = 50) -> mp.matrix:
    """E[M] of the gap-cut scheme by exhaustive enumeration of all 2^(n-1) cut patterns (mpmath).

    Each pattern has probability (1 - rho)^cuts rho^(n-1-cuts); its mask is 1 on every pair inside
    one maximal uncut run. Domain n <= 16.
    """
    if not 1 <= n <= 16:
        raise ValueError(f"enumeration is for 1 <= n <= 16, got {n}")
    with mp.workdps(dps + 10):
        rho = mp.exp(-mp.mpf(slope))
        cut = -mp.expm1(-mp.mpf(slope))
        weight = [cut ** k * rho ** (n - 1 - k) for k in range(n)]
        expected = [[mp.zero] * n for _ in range(n)]
        for pattern in range(1 << (n - 1)):
            probability = weight[bin(pattern).count("1")]
            start = 0
            for gap in range(n):  # gap g separates positions g and g + 1; gap n - 1 ends the row
                if gap == n - 1 or pattern >> gap & 1:
                    for i in range(start, gap + 1):
                        row = expected[i]
                        for j in range(start, gap + 1):
                            row[j] += probability
                    start = gap + 1
        with mp.workdps(dps):
            return mp.matrix([[+x for x in row] for row in expected])


def binning_same_bucket_shift_measure(i: int, j: int, width):
    """Measure of the shifts xi in [0, b) with floor((i - xi)/b) = floor((j - xi)/b) (mpmath).

    The buckets' boundaries are the grid xi + k b (k integer); i < j share a bucket iff no grid
    point lies in (i, j], i.e. xi is outside every interval (i - k b, j - k b]. The measure is
    found by enumerating those intervals that meet [0, b) (at most two when b > j - i; when
    b <= j - i the half-open interval (i, j] always holds a grid point and the measure is 0).
    """
    i, j = min(i, j), max(i, j)
    b = mp.mpf(width)
    if i == j:
        return b
    if b <= j - i:
        return mp.zero
    covered = []
    for k in range(int(mp.floor((i - b) / b)), int(mp.ceil(j / b)) + 1):
        low, high = max(i - k * b, mp.zero), min(j - k * b, b)
        if high > low:
            covered.append((low, high))
    covered.sort()
    measure, reach = mp.zero, mp.zero  # measure of [0, b) left uncovered, scanning left to right
    for low, high in covered:
        if low > reach:
            measure += low - reach
        reach = max(reach, high)
    return measure + max(b - reach, mp.zero)


def binning_collision_probability(i: int, j: int, slope, dps: int = 30):
    """P(i and j share a bucket) under the paper's binning, by quadrature over b (mpmath).

    int_0^inf (shift measure(b) / b) * slope^2 b e^(-slope b) db, the shift measure from
    binning_same_bucket_shift_measure; the closed form is e^(-slope |i - j|). slope > 0.
    """
    with mp.workdps(dps + 10):
        m = mp.mpf(slope)
        sigma = 1 / m
        d = abs(i - j)
        integrand = lambda b: binning_same_bucket_shift_measure(i, j, b) * m ** 2 * mp.exp(-m * b)
        nodes = [mp.mpf(d), d + sigma, d + 4 * sigma, d + 16 * sigma, mp.inf]
        value = mp.quad(integrand, nodes)
    with mp.workdps(dps):
        return +value


def binning_expected_mask_quadrature(n: int, slope, dps: int = 30) -> mp.matrix:
    """E[M] of the paper's binning for n positions, each pair by its own quadrature (mpmath)."""
    with mp.workdps(dps):
        expected = mp.matrix(n, n)
        for i in range(n):
            for j in range(i, n):
                expected[i, j] = expected[j, i] = binning_collision_probability(i, j, slope, dps)
        return expected
