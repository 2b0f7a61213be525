"""How large the blocks of the random masks get: the width law and the largest block over s draws.

Claims (docs/claims.md section 2):

- Random binning [C] (the authors' sampler): the width of a draw is b ~ Gamma(shape 2, scale
  sigma), sigma = 1/slope, so P(b > x) = (1 + x/sigma) e^(-x/sigma) [D]. Every interior block
  holds floor(b) or ceil(b) positions and the two end blocks fewer, so a draw's largest block
  holds at most ceil(b) positions, whatever n is. Over s independent draws
  P(max_k b_k <= x) = (1 - (1 + x/sigma) e^(-x/sigma))^s exactly, and
  P(max_k b_k > x) <= s (1 + x/sigma) e^(-x/sigma) (union bound) [D]; for integer x the same
  bounds hold for the largest block in positions. The quantile of the largest width is
  x = sigma (-1 - W_-1(-q/e)), q = 1 - (1 - delta)^(1/s), W_-1 the lower branch of Lambert's W.
- Gap cuts [D]: runs are geometric: a block starting at a position holds >= l positions with
  probability rho^(l-1), rho = e^(-slope); so P(some block of one mask holds > B positions)
  <= (n - B) rho^B (a union over the n - B windows of B + 1 positions with no cut inside), and the
  cap B = ceil(ln(n s/delta)/slope) bounds every block of s masks with probability >= 1 - delta.
  On the infinite line the block holding a given position has P(S = k) = k (1 - rho)^2 rho^(k-1)
  (E S = coth(slope/2), the row sum of P); splitting blocks longer than B moves each row sum of
  E[M] by at most E[S 1(S > B)] = rho^B (B^2 (1 - rho) + 2 B + (1 + rho)/(1 - rho)) (the block
  holding position i at finite n is the line's block cut to [0, n), no larger). docs/claims.md
  first stated (B + 1)^2 rho^B + sum_(k >= B+2) k rho^(k-1): larger, so also a bound.

Domain: slope > 0, x >= 0, s >= 1, 0 < delta < 1. mpmath at ``dps`` digits; float64 wrappers.
"""

from __future__ import annotations

import math

from mpmath import mp


def binning_width_survival(x: float, slope: float) -> float:
    """P(b > x) = (1 + slope x) e^(-slope x) for b ~ Gamma(2, scale 1/slope)."""
    t = float(slope) * max(float(x), 0.0)
    return (1.0 + t) * math.exp(-t)


def binning_largest_width_cdf(x: float, slope: float, s: int) -> float:
    """P(max of s widths <= x) = (1 - (1 + slope x) e^(-slope x))^s (exact)."""
    with mp.workdps(30):
        t = mp.mpf(slope) * max(mp.mpf(x), 0)
        return float((1 - (1 + t) * mp.exp(-t)) ** s)


def binning_largest_width_union_bound(x: float, slope: float, s: int) -> float:
    """s (1 + slope x) e^(-slope x) >= P(max of s widths > x) (the claim's form)."""
    return s * binning_width_survival(x, slope)


def binning_largest_width_quantile(delta: float, slope: float, s: int, dps: int = 30) -> float:
    """x with P(max of s widths > x) = delta exactly: sigma (-1 - W_-1(-q/e)), q = 1 - (1-delta)^(1/s)."""
    with mp.workdps(dps):
        q = -mp.expm1(mp.log1p(-mp.mpf(delta)) / s)  # per-draw tail probability
        t = -1 - mp.lambertw(-q / mp.e, -1)
        return float(mp.re(t) / mp.mpf(slope))


def gap_cut_largest_block_tail_bound(n: int, slope: float, cap: int) -> float:
    """(n - B) e^(-slope B) >= P(some block of one gap-cut mask over n positions holds > B)."""
    return max(n - cap, 0) * math.exp(-float(slope) * cap)


def gap_cut_cap(n: int, slope: float, s: int, delta: float) -> int:
    """B = ceil(ln(n s/delta)/slope): no block of s gap-cut masks exceeds B w.p. >= 1 - delta."""
    return max(1, math.ceil(math.log(n * s / delta) / slope))


def gap_cut_block_size_pmf(k: int, slope: float) -> float:
    """P(S = k) = k (1 - rho)^2 rho^(k-1): the block holding a given position on the line."""
    rho = math.exp(-slope)
    return k * math.expm1(-slope) ** 2 * rho ** (k - 1)


def gap_cut_cap_bias(slope, cap: int, dps: int = 30):
    """E[S 1(S > B)] = sum_(k > B) k^2 (1 - rho)^2 rho^(k-1) = rho^B (B^2 (1 - rho) + 2 B +
    (1 + rho)/(1 - rho)) (mpmath; the sum split at k = B + j into sum_j rho^(j-1) (B + j)^2): a
    bound on how far splitting blocks longer than B moves any row sum of E[M]."""
    with mp.workdps(dps + 10):
        m, b = mp.mpf(slope), mp.mpf(cap)
        rho, c = mp.exp(-m), -mp.expm1(-m)
        value = rho ** b * (b ** 2 * c + 2 * b + (1 + rho) / c)
    with mp.workdps(dps):
        return +value
