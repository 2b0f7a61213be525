"""Hemispheres: the invariant of the plain flow and Wendel's probability.

Claims:
* [L, Geshkovski et al. 2023] Hemisphere lemma: for the plain flow (SA or USA), if
  min_i <x_i(0), w> >= 0 for a unit w, then m(t) = min_i <x_i(t), w> is non-decreasing.
  (At the minimising token, d<x_i, w>/dt = sum_j a_ij (<x_j, w> - <x_i, x_j><x_i, w>) >= 0
  when every <x_j, w> >= <x_i, w> >= 0.)
* [L, Wendel 1962] n points drawn i.i.d. from a law on R^d symmetric about 0 and in general
  position lie in a common open half-space with probability
  P(n, d) = 2^-(n-1) sum_(k=0)^(d-1) binom(n-1, k), exactly (a rational, returned as a Fraction).
``in_open_hemisphere`` decides membership by a linear programme (scipy): maximise t subject to
<x_i, w> >= t, -1 <= w_k <= 1; the points lie in an open hemisphere iff the optimum is > 0.
Shapes: x [n, d] (or [..., n, d] for ``hemisphere_margin``).
"""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np


def hemisphere_margin(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """min_i <x_i, w> [...]."""
    return np.min(np.asarray(x, np.float64) @ np.asarray(w, np.float64), axis=-1)


def wendel_probability(n: int, d: int) -> Fraction:
    """P(n points in general position, symmetric law on R^d, lie in an open half-space)."""
    if n < 1 or d < 1:
        raise ValueError("n and d must be positive")
    return Fraction(sum(comb(n - 1, k) for k in range(min(d, n))), 2 ** (n - 1))


def in_open_hemisphere(x: np.ndarray, margin: float = 1e-9) -> bool:
    """Whether the rows of x [n, d] lie in a common open hemisphere (LP optimum > margin)."""
    from scipy.optimize import linprog

    x = np.asarray(x, np.float64)
    n, d = x.shape
    # variables (w_1..w_d, t); maximise t: minimise -t; constraints t - <x_i, w> <= 0
    c = np.zeros(d + 1)
    c[-1] = -1.0
    A = np.hstack([-x, np.ones((n, 1))])
    res = linprog(c, A_ub=A, b_ub=np.zeros(n), bounds=[(-1, 1)] * d + [(None, 1)], method="highs")
    return bool(res.status == 0 and -res.fun > margin)
