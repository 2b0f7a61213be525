"""Critical Poisson limit (critical_poisson.py) against docs/claims.md [M], closed forms and each other.

docs/claims.md's [M] values are an independent source (Monte Carlo and quadrature by someone else); the
tolerance for each is half a unit in its last quoted digit.
"""

import math

import numpy as np
import pytest
from mpmath import mp

from attnspec.oracles.scaling_limits import critical_poisson as CP
from attnspec.oracles.scaling_limits import finite_n as FN
from attnspec.oracles.scaling_limits import partition as P
from attnspec.oracles.scaling_limits import wmax_d3 as W

CLAIMS_WMAX = [(3, 1, "0.72948821465467"), (3, 0.4, "0.500713"), (8, 4, "0.411510"), (16, 14.9, "0.499376")]


def half_ulp(s):
    return 0.5 * 10.0 ** -(len(s.split(".")[1]))


@pytest.mark.parametrize("d,gamma,quoted", CLAIMS_WMAX)
def test_expected_wmax_matches_claims(d, gamma, quoted):
    v = CP.expected_wmax(d, gamma, backend="numpy")
    assert abs(v - float(quoted)) <= half_ulp(quoted) + 1e-12


def test_expected_ipr_matches_claims():
    v = CP.expected_ipr(3, 1, backend="numpy")
    assert abs(v - 0.635255892672) <= 1e-12 + 5e-13  # quoted to 12 digits


@pytest.mark.parametrize("d,quoted", [(3, "0.39896"), (8, "4.8950"), (16, "14.920"), (64, "85.172")])
def test_gamma_at_half_matches_claims(d, quoted):
    g = CP.gamma_at_half(d)
    assert abs(g - float(quoted)) <= half_ulp(quoted)
    assert abs(CP.expected_wmax(d, g, backend="numpy") - 0.5) < 1e-12


def test_mpmath_engine_against_d3_closed_form():
    # tier-1 (mpmath, 20 digits) engine against the Ein integral, an independent formula
    with mp.workdps(20):
        v = CP.expected_wmax(3, 1, dps=20)
        ref = W.expected_wmax_d3(1, dps=25)
        assert abs(v - ref) < mp.mpf(10) ** -19  # measured 2.6e-21


def test_mpmath_and_numpy_engines_agree_d8():
    with mp.workdps(20):
        v = CP.expected_wmax(8, 4, dps=20)
    assert abs(float(v) - CP.expected_wmax(8, 4, backend="numpy")) < 1e-12


@pytest.mark.parametrize("d,gamma", [(3, 0.2), (3, 5), (8, 1), (8, 30), (16, 5), (16, 60), (64, 85.0)])
def test_weights_sum_to_one(d, gamma):
    assert abs(CP.campbell_moment(1, 0, d, gamma, backend="numpy") - 1) < 1e-11


@pytest.mark.parametrize("d,gamma", [(3, 1.0), (8, 4.0)])
def test_second_moment_of_wmax_against_laplace_of_R(d, gamma):
    # E W^2 = int r e^-r E e^(-rR) dr, E e^(-rR) from laplace_R on a Gauss-Laguerre grid
    x, w = np.polynomial.laguerre.laggauss(60)
    L = CP.laplace_R(x, d, gamma)
    assert abs((w * x * L).sum() - CP.expected_wmax(d, gamma, moment=2, backend="numpy")) < 1e-9
    assert abs((w * L).sum() - CP.expected_wmax(d, gamma, backend="numpy")) < 1e-9


@pytest.mark.parametrize("r", [0.1, 1.0, 7.0])
def test_laplace_R_d3_is_generalised_dickman(r):
    v = CP.laplace_R([r], 3, 1.0)[0]
    assert abs(v - float(W.laplace_R_d3(r, 1.0))) < 1e-13


@pytest.mark.parametrize("d,gamma", [(3, 1), (8, 4), (16, 14.9)])
@pytest.mark.parametrize("s", ["0.05", "1", "12"])
def test_laplace_exponent_three_ways(d, gamma, s):
    with mp.workdps(25):
        gum = CP.laplace_exponent(s, d, gamma, dps=25)
        ser = CP.laplace_exponent_series(s, d, gamma, dps=25)
        assert abs(gum - ser) < mp.mpf(10) ** -20 * abs(ser)
        eng = CP._measure(d, gamma, None, CP.NP)
        from attnspec.oracles.scaling_limits import functionals as F
        chi = F.chi_of_tau(eng, CP.NP, [math.log(float(s))])[0]
        assert abs(chi - float(ser)) < 1e-11 * float(ser)
        if d == 3:
            assert abs(ser - W.ein(mp.mpf(s)) / (2 * gamma)) < mp.mpf(10) ** -20


@pytest.mark.parametrize("d,gamma", [(3, 1), (8, 4), (16, 14.9)])
def test_normaliser_moments_are_limits_of_exact_finite_n(d, gamma):
    with mp.workdps(30):
        ES, VS = CP.limit_mean_normaliser(d, gamma), CP.limit_var_normaliser(d, gamma)
        errs = []
        for n in (mp.mpf(10) ** 6, mp.mpf(10) ** 12):
            beta = CP.critical_beta(n, d, gamma)
            errs.append((P.normaliser_mean(n, beta, d) / ES - 1, P.normaliser_variance(n, beta, d) / VS - 1))
        # relative error O(n^(-2/(d-1))) (0 at d = 3 up to e^(-2 beta))
        rate = mp.mpf(10) ** (-6 * 2 / mp.mpf(d - 1))
        for (em, ev) in errs[1:]:
            assert abs(em) < 5 * (d * d) * rate and abs(ev) < 5 * (d * d) * rate
    if d == 3:
        assert abs(ES - mp.mpf(1) / (2 * gamma)) < mp.mpf(10) ** -25  # docs/claims.md: E S = 0.5 at gamma = 1


def test_limit_is_the_large_n_limit_of_the_exact_oracle():
    # d = 3 converges like 1/n; d = 8 like n^(-2/7) (checked in test_finite_n.py in detail)
    lim = CP.expected_wmax(3, 1.0, backend="numpy")
    e = FN.expected_wmax(1e8, 1e8, 3, backend="numpy")
    assert abs(e - lim) < 1e-7


def test_output_moments_limit_vs_finite_n():
    d, gamma, n = 3, 1.0, 1e7
    lim = CP.output_moments(d, gamma, backend="numpy")
    ex = FN.output_moments(n, gamma * n, d, backend="numpy")
    scale = n ** (-2 / (d - 1))
    assert abs(ex["mean_deficit"] / scale / lim["mean_deficit"] - 1) < 1e-5
    assert abs(ex["tangent_var"] * (d - 1) / scale / lim["tangent_sq"] - 1) < 1e-5
    assert abs(ex["var_along_q"] / scale ** 2 / lim["var_deficit"] - 1) < 1e-5


@pytest.mark.parametrize("alpha", [0.3, 0.5, 0.7])
def test_poisson_dirichlet_closed_form_against_engine(alpha):
    closed = float(CP.poisson_dirichlet_expected_wmax(alpha))
    eng = CP.poisson_dirichlet_wmax_engine(1 / alpha)
    assert abs(closed - eng) < 1e-7  # the Gumbel intensity has a heavy tail: engine ~1e-8 here


def test_poisson_dirichlet_ipr_via_engine():
    from attnspec.oracles.scaling_limits import functionals as F
    for gamma in (1.5, 3.0):
        v = F.sum_functional(F.PoissonGumbel(gamma), CP.NP, 2, [None])[0]
        assert abs(v - float(CP.poisson_dirichlet_expected_ipr(1 / gamma))) < 1e-8


def test_large_d_tends_to_poisson_dirichlet():
    # at fixed kappa = g p the critical weights tend to PD(1/kappa, 0); the gap shrinks like 1/d
    kappa = 2.0
    pd = float(CP.poisson_dirichlet_expected_wmax(1 / kappa))
    gaps = []
    for d in (64, 256, 1024):
        p = 2 / (d - 1)
        gamma = float(kappa / p * mp.power(CP.small_ball_constant(d), p))
        assert abs(float(CP.large_d_pd_parameter(d, gamma)) - kappa) < 1e-10
        gaps.append(CP.expected_wmax(d, gamma, backend="numpy") - pd)
    assert gaps[0] > gaps[1] > gaps[2] > 0
    assert 3 < gaps[0] / gaps[1] < 5 and 3 < gaps[1] / gaps[2] < 5


def _claims_phi_formula(d, gamma, k=1):
    """docs/claims.md's formula taken literally, in float64 tensor Gauss-Legendre (independent of the
    engine): E W^k = int dx e^-x int du u^(k-1)/Gamma(k) e^-u e^(-Phi(x,u)),
    Phi(x, e^z) = int_(-z)^inf [(x^p + (z+v)/g)^a - x] e^(-v - e^-v) dv."""
    a = (d - 1) / 2
    p = 1 / a
    g = float(CP.unit_rate_scale(d, gamma))
    t, w = np.polynomial.legendre.leggauss(32)

    def rule(edges):
        X = np.concatenate([lo + (hi - lo) * (t + 1) / 2 for lo, hi in zip(edges[:-1], edges[1:])])
        W = np.concatenate([(hi - lo) / 2 * w for lo, hi in zip(edges[:-1], edges[1:])])
        return X, W
    xi, wxi = rule(np.linspace(0, 45 ** (p / 2), 9))  # x = xi^(2a): x^p = xi^2 is analytic
    x = xi ** (2 * a)
    wx = wxi * 2 * a * xi ** (2 * a - 1) * np.exp(-x)
    u, wu = rule(np.array([0, 0.5, 2, 5, 10, 17, 26, 37, 50, 65.0]))
    s, ws = rule(np.array([0, 0.5, 1.5, 3, 5, 8, 12, 17, 24, 33, 45, 60.0]))  # v = -z + s
    X, U, S = x[:, None, None], u[None, :, None], s[None, None, :]
    bracket = (X ** p + S / g) ** a - X
    gumbel = U * np.exp(-S) * np.exp(-U * np.exp(-S))  # e^(-v - e^-v) at v = s - log u
    Phi = (bracket * gumbel * ws).sum(axis=2)
    inner = (wu * u ** (k - 1) / math.gamma(k) * np.exp(-u) * np.exp(-Phi)).sum(axis=1)
    return (wx * inner).sum()


@pytest.mark.parametrize("d,gamma", [(3, 1.0), (8, 4.0), (16, 14.9)])
@pytest.mark.parametrize("k", [1, 2])
def test_claims_phi_formula_equals_engine(d, gamma, k):
    assert abs(_claims_phi_formula(d, gamma, k) - CP.expected_wmax(d, gamma, moment=k, backend="numpy")) < 1e-12
