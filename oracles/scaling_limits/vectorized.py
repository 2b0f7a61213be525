"""Fast float64 (numpy/scipy) versions of the scaling-limit oracles, for tests that need many values.

Every function here has an mpmath twin (named in its docstring) that states the claim; the tests
hold each against its twin (tests/oracles/scaling_limits/test_vectorized.py). Inputs broadcast as
numpy arrays; outputs are float64 arrays. Accuracy (relative, measured against the twins): closed
forms about 1e-14; quadrature-engine values (``*_engine``) about 1e-12.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special as sps

from attnspec.oracles.scaling_limits import critical_poisson as CP
from attnspec.oracles.scaling_limits import finite_n as FN

EULER = 0.5772156649015329


def small_ball_constant(d):
    """Twin: score_law.small_ball_constant. C_d = 2^((d-3)/2) Gamma(d/2) / (sqrt(pi) Gamma((d+1)/2))."""
    d = np.asarray(d, float)
    return np.exp((d - 3) / 2 * math.log(2) + sps.gammaln(d / 2) - 0.5 * math.log(math.pi) - sps.gammaln((d + 1) / 2))


def deficit_cdf(u, d):
    """Twin: score_law.deficit_cdf. P(1 - <q,k> <= u) = I_(u/2)(a, a) (relative accuracy kept at small u)."""
    u = np.clip(np.asarray(u, float), 0.0, 2.0)
    a = (np.asarray(d, float) - 1) / 2
    lower = sps.betainc(a, a, np.minimum(u, 1.0) / 2)
    upper = 1 - sps.betainc(a, a, np.clip(1 - u / 2, 0.0, 0.5))
    return np.where(u <= 1.0, lower, upper)


def log_partition_function(beta, d):
    """Twin: partition.log_partition_function. log Z = lgamma(d/2) + nu log(2/beta) + log ive(nu, beta) + beta."""
    beta = np.asarray(beta, float)
    nu = np.asarray(d, float) / 2 - 1
    with np.errstate(divide="ignore"):
        v = sps.gammaln(nu + 1) + nu * np.log(2 / beta) + np.log(sps.ive(nu, beta)) + beta
    return np.where(beta == 0, 0.0, v)


def mean_resultant(beta, d):
    """Twin: partition.mean_resultant. A_d = ive(d/2, beta) / ive(d/2 - 1, beta)."""
    beta = np.asarray(beta, float)
    nu = np.asarray(d, float) / 2 - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        v = sps.ive(nu + 1, beta) / sps.ive(nu, beta)
    return np.where(beta == 0, 0.0, v)


def tilted_second_moment(beta, d):
    """Twin: partition.tilted_second_moment. 1 - (d-1) A_d(beta)/beta."""
    beta = np.asarray(beta, float)
    d = np.asarray(d, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = 1 - (d - 1) * mean_resultant(beta, d) / beta
    return np.where(beta == 0, 1 / d, v)


def second_moment_ratio(beta, d):
    """Twin: partition.second_moment_ratio. R2 = Z(2 beta)/Z(beta)^2."""
    beta = np.asarray(beta, float)
    return np.exp(log_partition_function(2 * beta, d) - 2 * log_partition_function(beta, d))


def normaliser_mean(n, beta, d):
    """Twin: partition.normaliser_mean. n e^(-beta) Z(beta)."""
    return np.asarray(n, float) * np.exp(log_partition_function(beta, d) - np.asarray(beta, float))


def heat_eigenvalue(l, beta, d):
    """Twin: heat_kernel.heat_eigenvalue. ive(l + d/2 - 1, beta) / ive(d/2 - 1, beta)."""
    nu = np.asarray(d, float) / 2 - 1
    return sps.ive(nu + np.asarray(l, float), beta) / sps.ive(nu, beta)


def critical_beta(n, d, gamma):
    """Twin: critical_poisson.critical_beta. gamma n^(2/(d-1))."""
    return np.asarray(gamma, float) * np.asarray(n, float) ** (2.0 / (np.asarray(d, float) - 1))


def limit_mean_normaliser(d, gamma):
    """Twin: critical_poisson.limit_mean_normaliser. Gamma(a+1) C_d gamma^(-a)."""
    a = (np.asarray(d, float) - 1) / 2
    return sps.gamma(a + 1) * small_ball_constant(d) * np.asarray(gamma, float) ** (-a)


def limit_var_normaliser(d, gamma):
    """Twin: critical_poisson.limit_var_normaliser. Gamma(a+1) C_d gamma^(-a) 2^(-a)."""
    a = (np.asarray(d, float) - 1) / 2
    return limit_mean_normaliser(d, gamma) * 2.0 ** (-a)


def ein(s):
    """Ein(s) = int_0^s (1 - e^-t)/t dt, s >= 0 (series below 0.5, E1 + log + Euler above)."""
    s = np.asarray(s, float)
    small = s < 0.5
    ss = np.where(small, s, 0.0)
    ser = np.zeros_like(s)
    term = np.ones_like(s)
    for k in range(1, 25):
        term = term * (-ss) / k if k > 1 else -ss + 0.0 * ss
        ser = ser - term / k
    with np.errstate(divide="ignore", invalid="ignore"):
        big = sps.exp1(np.where(small, 1.0, s)) + np.log(np.where(small, 1.0, s)) + EULER
    return np.where(small, ser, big)


_GL_U = None


def expected_wmax_d3(gamma, moment=1):
    """Twin: wmax_d3.expected_wmax_d3. int u^(k-1)/Gamma(k) exp(-u - Ein(u)/(2 gamma)) du, vectorised over gamma."""
    global _GL_U
    if _GL_U is None:
        t, w = np.polynomial.legendre.leggauss(40)
        edges = np.array([0, 0.5, 1, 2, 4, 7, 11, 16, 22, 29, 37, 46, 56, 70])
        U, Wt = [], []
        for a, b in zip(edges[:-1], edges[1:]):
            U.append(a + (b - a) * (t + 1) / 2)
            Wt.append((b - a) / 2 * w)
        _GL_U = (np.concatenate(U), np.concatenate(Wt))
    u, w = _GL_U
    g = np.asarray(gamma, float)[..., None]
    k = float(moment)
    f = np.exp((k - 1) * np.log(u) - u - ein(u) / (2 * g) - sps.gammaln(k))
    return (f * w).sum(axis=-1)


def poisson_dirichlet_expected_wmax(alpha):
    """Twin: critical_poisson.poisson_dirichlet_expected_wmax, vectorised over alpha in (0, 1)."""
    al = np.asarray(alpha, float)[..., None]
    t, w = np.polynomial.legendre.leggauss(60)
    edges = np.array([0, 0.25, 1, 3, 7, 13, 21, 31, 45, 65, 90])
    U, Wt = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        U.append(a + (b - a) * (t + 1) / 2)
        Wt.append((b - a) / 2 * w)
    u, wt = np.concatenate(U), np.concatenate(Wt)
    J = u ** al * sps.gammainc(1 - al, u) * sps.gamma(1 - al) - (-np.expm1(-u))
    return (np.exp(-u) / (1 + J) * wt).sum(axis=-1)


def near_tie_constant(d):
    """Twin: supercritical.near_tie_constant. K_d = a C_d^(1/a) Gamma(2 - 1/a)."""
    a = (np.asarray(d, float) - 1) / 2
    return a * small_ball_constant(d) ** (1 / a) * sps.gamma(2 - 1 / a)


# ---- quadrature-engine values in float64 (twins: the same functions with backend="mpmath")

def expected_wmax_limit_engine(d, gamma, moment=1):
    """Twin: critical_poisson.expected_wmax(..., backend="mpmath")."""
    return CP.expected_wmax(d, gamma, moment=moment, backend="numpy")


def expected_ipr_limit_engine(d, gamma):
    """Twin: critical_poisson.expected_ipr(..., backend="mpmath")."""
    return CP.expected_ipr(d, gamma, backend="numpy")


def expected_wmax_finite_engine(n, beta, d, moment=1, law=None):
    """Twin: finite_n.expected_wmax(..., backend="mpmath")."""
    return FN.expected_wmax(n, beta, d, law=law, moment=moment, backend="numpy")


def expected_ipr_finite_engine(n, beta, d, law=None):
    """Twin: finite_n.expected_ipr(..., backend="mpmath")."""
    return FN.expected_ipr(n, beta, d, law=law, backend="numpy")
