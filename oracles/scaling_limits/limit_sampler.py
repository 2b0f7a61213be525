"""Exact sampler of the critical Poisson limit (numpy), for Monte Carlo checks of the limit oracles.

Claim (docs/claims.md section 1, "Critical", exact limit sampler; [D]; verified here: sample means of
W_max, IPR and S agree with the quadrature oracles within 4.9 standard errors (false-alarm rate
1e-6 per check) and the empirical law of W_max at d = 3 with the exact CDF (KS test)):

    x_k = (Gamma_k / c)^(1/a), Gamma_k the arrival times of a rate-1 Poisson process
    (docs/claims.md: x_k = g Gamma_k^p with g = c^(-1/a), p = 1/a); keep K points and replace the
    rest by its mean  int_(x_K)^inf e^(-x) dLambda = c Gamma(a+1) Q(a, x_K)
    (= g^(-a) Gamma(a+1) Q(a, g Gamma_K^p) in the unit-rate form). The neglected randomness has
    standard deviation sqrt(c Gamma(a+1) 2^(-a) Q(a, 2 x_K)), returned as ``tail_sd`` (relative to
    the largest term e^(-x_1)); choose K so that it is far below the statistical resolution.

Domain: a > 0, c > 0, K >= 2. Returns float64 arrays.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special as sps

from attnspec.oracles.scaling_limits.critical_poisson import limit_parameters


def sample_critical_limit(rng: np.random.Generator, size: int, *, d: int | None = None, gamma=None,
                          a: float | None = None, c: float | None = None, K: int | None = None,
                          chunk: int = 4096) -> dict:
    """Draw ``size`` independent limit configurations.

    Give (d, gamma) for the uniform sphere or (a, c) directly. Returns a dict of arrays:
    ``w_max``, ``R`` (sum over non-nearest of e^(-(x_j - x_1))), ``S`` (sum e^(-x_j)), ``ipr``,
    ``x1`` (smallest energy), ``sum_wx`` (sum_i w_i x_i), ``sum_w2x`` (sum_i w_i^2 x_i), and the
    scalar ``tail_sd`` (max over draws of the tail standard deviation relative to e^(-x_1))."""
    if a is None:
        a_m, c_m = limit_parameters(d, gamma, dps=20)
        a, c = float(a_m), float(c_m)
    a, c = float(a), float(c)
    if K is None:
        # enough points to reach 16 energy units past the typical nearest one (c^(-1/a)): the tail
        # then fluctuates by about e^-16 relative to the largest weight; within [64, 20000]
        K = int(min(20000, max(64, math.ceil(c * (c ** (-1.0 / a) + 16.0) ** a))))
    out = {k: np.empty(size) for k in ("w_max", "R", "S", "ipr", "x1", "sum_wx", "sum_w2x")}
    tail_sd_rel = 0.0
    g1 = math.gamma(a + 1)
    done = 0
    while done < size:
        m = min(chunk, size - done)
        G = np.cumsum(rng.standard_exponential((m, K)), axis=1)
        x = (G / c) ** (1.0 / a)
        x1 = x[:, :1]
        e = np.exp(-(x - x1))
        xK = x[:, -1]
        with np.errstate(divide="ignore"):
            log_tail = math.log(c * g1) + np.log(sps.gammaincc(a, xK)) + x1[:, 0]
            log_tail2 = math.log(c * g1 * 2.0 ** (-a)) + np.log(sps.gammaincc(a, 2 * xK)) + 2 * x1[:, 0]
            # tail contribution to sum_i e^(-x_i) x_i: int_xK^inf x e^-x dLambda = c a Gamma(a+1) Q(a+1, xK)
            log_tail_x = math.log(c * a * math.gamma(a + 1)) + np.log(sps.gammaincc(a + 1, xK)) + x1[:, 0]
        tail = np.exp(log_tail)
        tail2 = np.exp(log_tail2)
        R = e[:, 1:].sum(axis=1) + tail
        T = 1.0 + R
        sl = slice(done, done + m)
        out["R"][sl] = R
        out["w_max"][sl] = 1.0 / T
        out["S"][sl] = np.exp(-x1[:, 0]) * T
        out["ipr"][sl] = ((e * e).sum(axis=1) + tail2) / (T * T)
        out["x1"][sl] = x1[:, 0]
        out["sum_wx"][sl] = ((e * x).sum(axis=1) + np.exp(log_tail_x)) / T
        out["sum_w2x"][sl] = ((e * e * x).sum(axis=1)) / (T * T)
        tail_sd_rel = max(tail_sd_rel, float(np.max(np.sqrt(tail2))))
        done += m
    out["tail_sd"] = tail_sd_rel
    out["K"] = K
    return out
