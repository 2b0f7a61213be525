"""The discrete block-pooled analogue of the fast-slow system, and what the theory predicts for it.

The analogue ([D], this project's reconstruction: the paper's abstract names eps = 1/P but no
discrete scheme): tokens t = 0, 1, ...; the fast state is a distribution moved one step of a
Markov kernel per token, the slow state moves 1/P per token and reads the fast state only
through the block mean of the last complete block, by the layer's causal read rule:

    x_(t+1)^T = x_t^T K(y_t),   K(y) = I + tau Q(y)   (row-stochastic for tau max_i |Q_ii| <= 1)
    y_(t+1)   = y_t + g(xbar_t, y_t) / P,
    xbar_t    = mean of x over block b* = floor((t + 1)/P) - 1, or 0 while no block is complete.

One block is one unit of slow time, so eps = 1/P. K(y) has the stationary law p_st(y) of Q(y)
(pi^T K = pi^T iff Q^T pi = 0). Prediction [D]: write x_t = p_st(y_t) + delta_t. Then
delta_(t+1) = K^T delta_t - p_st'(y_t) v_t / P + O(1/P^2), v_t = P (y_(t+1) - y_t); its
quasi-static solution is delta = psi_d / P with

    tau Q(y)^T psi_d = p_st'(y) v,  1^T psi_d = 0,   i.e. psi_d(y, v) = psi(y, v) / tau

(psi of master_equation.corrector with slow velocity v). So after an initial layer of
O(log P) tokens (a deviation shrinks by the second eigenvalue of K per token, at most
1 - tau min(a + b) in the two-state example):

    sup_t |x_t - p_st(y_t)| = (1/P) sup_t |psi_d(y_t, v_t)| + O(1/P^2),

the slope of log error against log(1/P) tends to -1 (against log eps, to 1), and the corrector
psi_d / P removes the leading term at tokens where v has settled (v jumps when b* changes, and
delta relaxes to the new quasi-static value over O(log P) tokens, between the old and the new
value in the two-state case, so the sup is still the quasi-static one).

Domain: Q(y) irreducible, 0 < tau max|Q_ii| <= 1, P >= 1.
"""

from __future__ import annotations

import math

from attnspec.oracles.fast_slow.master_equation import (
    corrector,
    stationary_distribution,
)
from mpmath import mp


def discrete_corrector(Q_of_y, y, v, tau, dps: int = 30):
    """psi_d(y, v) = psi(y, v) / tau ([n] column) [D]."""
    with mp.workdps(dps):
        return corrector(Q_of_y, y, v, dps) / mp.mpf(tau)


def predicted_error(Q_of_y, y, v, tau, P: int, dps: int = 30):
    """The leading term max_i |psi_d(y, v)_i| / P of |x_t - p_st(y_t)| at a settled token [D]."""
    with mp.workdps(dps):
        psi = discrete_corrector(Q_of_y, y, v, tau, dps)
        return max(abs(psi[i]) for i in range(psi.rows)) / P


def stationary(Q_of_y, y, dps: int = 30):
    """p_st(y) of Q(y): the law the fast state tracks ([n] column)."""
    return stationary_distribution(Q_of_y(mp.mpf(y)), dps)


def settling_tokens(P: int, contraction: float) -> int:
    """Tokens for a deviation of size 1, shrinking by ``contraction`` < 1 per token, to fall
    below 1/P^2 (below the prediction's remainder): ceil(2 log P / -log contraction) [D]."""
    return math.ceil(2 * math.log(P) / -math.log(contraction))
