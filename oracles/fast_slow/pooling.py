"""Exact causal block-mean pooling, and the rounding a float pooling may add.

Claim ([D], elementary): block b's mean is m_b = (1/P) sum_(i < P) x_(bP + i) over the N =
floor(T/P) complete blocks (an incomplete trailing block is not pooled: no token may read it).
Computed in mpmath from the exact (dyadic) values of float inputs. A float sum of P terms in
any order (relative perturbations (1 + theta_(P-1)) of each term), then a division by P or a
product with a rounded 1/P (two more roundings), is within gamma_(P+1) (1/P) sum_i |x_i| of
m_b (Higham 2002, Lemma 3.1 and 3.3; gamma_n = n u / (1 - n u)), and exact when every partial sum and the quotient are representable (for example small
integers with P a power of two).

Domain: rows of floats, P >= 1; returns nested lists [N][D] of mpf.
"""

from __future__ import annotations

from mpmath import mp


def block_means(x, P: int, dps: int = 60):
    """[N][D] exact block means of x ([T][D] nested floats), N = floor(T/P)."""
    with mp.workdps(dps):
        N = len(x) // P
        D = len(x[0]) if len(x) else 0
        return [[mp.fsum(mp.mpf(x[b * P + i][c]) for i in range(P)) / P for c in range(D)]
                for b in range(N)]


def pooling_bound(x, P: int, unit_roundoff: float, dps: int = 30):
    """[N][D] bound gamma_(P+1) (1/P) sum_i |x_i| on a float pooling's error [L][D]."""
    with mp.workdps(dps):
        u = mp.mpf(unit_roundoff)
        gamma = (P + 1) * u / (1 - (P + 1) * u)
        N = len(x) // P
        D = len(x[0]) if len(x) else 0
        return [[gamma * mp.fsum(abs(mp.mpf(x[b * P + i][c])) for i in range(P)) / P
                 for c in range(D)] for b in range(N)]
