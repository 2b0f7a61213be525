"""How close the mean of s masks is to the ALiBi matrix: the paper's bounds and two of the project's.

Claims (docs/claims.md section 2), with L = P the multiplicative ALiBi matrix (n x n) and
L' = Mbar the mean of s independent masks, sigma = 1/slope:

- The paper's bounds, as the authors' code evaluates them [C] (theory_validation.py,
  compute_Psi_sigma, bound_expectation, bound_tail), for the paper's binning:
      Psi = 1 + sigma + coth(1/(2 sigma))   (the code writes (e^(1/sigma) + 1)/(e^(1/sigma) - 1))
      E ||L' - L||_2 <= Psi (sqrt(ln n / s) + ln n / s)
      P(||L' - L||_2 >= eps) <= n exp(-s eps^2 / (4 Psi (4 Psi + eps)))
  Not derived here (the paper's proof was not available); checked by Monte Carlo
  (docs/positional-lsh.md) and held as statistical properties.
- Entrywise (Hoeffding and a union bound) [D]: s Mbar_ij ~ Binomial(s, P_ij) for either scheme,
  the diagonal is exact, so P(max_ij |Mbar_ij - P_ij| >= t) <= n (n - 1) exp(-2 s t^2), i.e.
  t = sqrt(ln(n (n - 1)/delta)/(2 s)) at level delta.
- Spectral, matrix Bernstein [D] (Tropp 2012, Theorem 1.4 [L], both tails): for masks whose
  blocks hold at most B positions (the gap-cut cap of block_widths.py), with Ptilde their mean,
  X_k = M_k - Ptilde has ||X_k|| <= max(B, coth(slope/2)) (both PSD; ||Ptilde|| <= ||P|| <
  coth(slope/2) since 0 <= Ptilde <= P entrywise) and E X_k^2 <= E M^2 <= B Ptilde (M^2 <= ||M|| M),
  so P(||Mbar - Ptilde||_2 >= t) <= 2n exp(-s t^2 / (2 B coth(slope/2) + (2/3) max(B, coth(slope/2)) t)).
  With the cap chosen at level delta/2 and the bias ||Ptilde - P||_2 <= the largest row sum of
  P - Ptilde <= gap_cut_cap_bias (block_widths.py), ||Mbar - P||_2 <= t + bias with probability
  >= 1 - delta for uncapped gap-cut masks (gap_cut_spectral_threshold).

Domain: n >= 2, s >= 1, slope > 0, 0 < delta < 1, eps > 0. float64.
"""

from __future__ import annotations

import math

import numpy as np

from attnspec.oracles.alibi_lsh.block_widths import gap_cut_cap, gap_cut_cap_bias


def psi_sigma(sigma: float) -> float:
    """Psi = 1 + sigma + coth(1/(2 sigma)) [C]."""
    return 1.0 + sigma + 1.0 / math.tanh(0.5 / sigma)


def paper_expectation_bound(sigma: float, n: int, s: int) -> float:
    """Psi (sqrt(ln n / s) + ln n / s) >= E ||L' - L||_2 [C]."""
    r = math.log(n) / s
    return psi_sigma(sigma) * (math.sqrt(r) + r)


def paper_tail_bound(sigma: float, n: int, s: int, eps: float) -> float:
    """n exp(-s eps^2 / (4 Psi (4 Psi + eps))) >= P(||L' - L||_2 >= eps) [C] (may exceed 1)."""
    psi = psi_sigma(sigma)
    return n * math.exp(-s * eps * eps / (4.0 * psi * (4.0 * psi + eps)))


def paper_tail_threshold(sigma: float, n: int, s: int, delta: float) -> float:
    """eps with paper_tail_bound = delta: the root of s eps^2 = 4 Psi l (4 Psi + eps), l = ln(n/delta)."""
    psi, l = psi_sigma(sigma), math.log(n / delta)
    a = 4.0 * psi * l
    return (a + math.sqrt(a * a + 4.0 * s * 4.0 * psi * a)) / (2.0 * s)


def hoeffding_max_norm_threshold(n: int, s: int, delta: float) -> float:
    """t = sqrt(ln(n (n - 1)/delta)/(2 s)): P(max_ij |Mbar_ij - P_ij| >= t) <= delta [D]."""
    return math.sqrt(math.log(n * (n - 1) / delta) / (2.0 * s))


def matrix_bernstein_tail(n: int, s: int, slope: float, cap: int, t: float) -> float:
    """2n exp(-s t^2 / (2 B coth(slope/2) + (2/3) max(B, coth(slope/2)) t)) >= P(||Mbar - Ptilde||_2 >= t)
    for masks with blocks of at most B = cap positions [D]."""
    coth = 1.0 / math.tanh(0.5 * slope)
    return 2.0 * n * math.exp(-s * t * t / (2.0 * cap * coth + (2.0 / 3.0) * max(cap, coth) * t))


def matrix_bernstein_threshold(n: int, s: int, slope: float, cap: int, delta: float) -> float:
    """t with matrix_bernstein_tail = delta: the root of s t^2 = l (2 v + (2/3) R t),
    v = B coth(slope/2), R = max(B, coth(slope/2)), l = ln(2n/delta)."""
    coth = 1.0 / math.tanh(0.5 * slope)
    v, r, l = cap * coth, max(cap, coth), math.log(2.0 * n / delta)
    b = (2.0 / 3.0) * r * l
    return (b + math.sqrt(b * b + 8.0 * s * v * l)) / (2.0 * s)


def gap_cut_spectral_threshold(n: int, s: int, slope: float, delta: float) -> float:
    """t + bias with P(||Mbar - P||_2 >= t + bias) <= delta for s uncapped gap-cut masks [D]:
    cap B at level delta/2 (no block of the s masks exceeds it), Bernstein at delta/2, bias =
    gap_cut_cap_bias(slope, B)."""
    cap = gap_cut_cap(n, slope, s, delta / 2.0)
    return (matrix_bernstein_threshold(n, s, slope, cap, delta / 2.0)
            + float(gap_cut_cap_bias(slope, cap)))


def spectral_distance(mbar, p) -> float:
    """||Mbar - P||_2 of two symmetric float64 matrices: the largest |eigenvalue| of the difference
    (LAPACK's symmetric eigensolver, backward error a few n u ||Mbar - P||_2)."""
    import numpy as np

    return float(np.abs(np.linalg.eigvalsh(np.asarray(mbar) - np.asarray(p))).max())
