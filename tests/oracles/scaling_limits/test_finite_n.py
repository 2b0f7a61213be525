"""Exact finite-n oracles (finite_n.py) against independent formulas, the limit, and docs/claims.md [M]."""

import math

import numpy as np
import pytest
from mpmath import mp

from attnspec.oracles.scaling_limits import critical_poisson as CP
from attnspec.oracles.scaling_limits import finite_n as FN
from attnspec.oracles.scaling_limits import key_laws as KL
from attnspec.oracles.scaling_limits import partition as P
from attnspec.oracles.scaling_limits import vectorized as V


def _wmax_d3_independent(n, beta):
    """d = 3: u uniform on [0, 2], so P(x <= v) = v/(2 beta) and
    chi_+(r, v) = (Ein(r) - Ein(r e^(-(2 beta - v)))) / (2 beta) in closed form; the remaining
    two-dimensional integral by tensor Gauss-Legendre in float64 (independent of the engine)."""
    t, w = np.polynomial.legendre.leggauss(48)

    def rule(edges):
        X = np.concatenate([a + (b - a) * (t + 1) / 2 for a, b in zip(edges[:-1], edges[1:])])
        Wt = np.concatenate([(b - a) / 2 * w for a, b in zip(edges[:-1], edges[1:])])
        return X, Wt
    vc = min(2 * beta, 2 * beta * 60 / n)
    v, wv = rule(np.linspace(0, vc, 9))
    r, wr = rule(np.array([0, 0.5, 2, 5, 10, 20, 40, 80.0]))
    ein = lambda z: np.where(z < 1e-300, 0.0, V.ein(np.maximum(z, 1e-300)))
    G = v[:, None] / (2 * beta)
    chi = (ein(r[None, :]) - ein(r[None, :] * np.exp(-(2 * beta - v[:, None])))) / (2 * beta)
    inner = np.exp(-r[None, :] + (n - 1) * np.log1p(-np.minimum(1.0, G + chi)))
    return n / (2 * beta) * (wv[:, None] * wr[None, :] * inner).sum()


def _n2_bruteforce(d, beta, ipr=False):
    a = mp.mpf(d - 1) / 2
    nb = mp.beta(a, a) * 2 ** (2 * a - 1)
    pdf = lambda u: (u * (2 - u)) ** (a - 1) / nb
    if ipr:
        g = lambda x: (1 + mp.exp(-2 * beta * x)) / (1 + mp.exp(-beta * x)) ** 2
        return mp.quad(lambda u1: pdf(u1) * mp.quad(lambda u2: pdf(u2) * g(abs(u2 - u1)), [0, u1, 2]),
                       [0, 0.5, 1, 1.5, 2])
    return 2 * mp.quad(lambda u1: pdf(u1) * mp.quad(lambda u2: pdf(u2) / (1 + mp.exp(-beta * (u2 - u1))),
                                                    [u1, min(2, u1 + 1 / beta), min(2, u1 + 10 / beta), 2]),
                       [0, 0.5, 1, 1.5, 2])


@pytest.mark.parametrize("beta", [3.0, 30.0])
def test_n2_against_bruteforce_d8(beta):
    with mp.workdps(15):
        wm, ip = _n2_bruteforce(8, mp.mpf(beta)), _n2_bruteforce(8, mp.mpf(beta), ipr=True)
    assert abs(FN.expected_wmax(2, beta, 8, backend="numpy") - float(wm)) < 1e-12
    assert abs(FN.expected_ipr(2, beta, 8, backend="numpy") - float(ip)) < 1e-12


def test_mpmath_and_numpy_agree():
    # n = 1e4: beta = 55.7, so the support end u = 2 is out of reach (the mpmath path with a
    # clipped support end, needed only at beta < ~30, is correct but slow)
    n, d, gamma = 1e4, 8, 4.0
    beta = CP.critical_beta(n, d, gamma)
    with mp.workdps(20):
        v = FN.expected_wmax(n, beta, d, dps=20)
    assert abs(float(v) - FN.expected_wmax(n, float(beta), d, backend="numpy")) < 1e-12


def test_exact_normaliser_moments_from_the_laplace_transform():
    # E e^(-sD) = (E e^(-s e^(-beta u)))^n: its s-derivative at 0 gives E D (closed form in P)
    n, beta, d = 1e3, 5.0, 8
    h = 1e-7
    L = FN.laplace_normaliser(n, beta, [h, 2 * h], d)
    ED = float(P.normaliser_mean(n, beta, d))
    deriv = -(4 * L[0] - L[1] - 3) / (2 * h)  # one-sided second-order difference at 0
    assert abs(deriv / ED - 1) < 1e-6


@pytest.mark.parametrize("d", [8, 16])
def test_convergence_to_the_limit_rate(d):
    # docs/claims.md: the error of the limit law decays like n^(-2/(d-1)); measure the exponent
    g = CP.gamma_at_half(d)
    lim = CP.expected_wmax(d, g, backend="numpy")
    ns = [1e9, 1e15]
    errs = [abs(FN.expected_wmax(n, CP.critical_beta(n, d, g), d, backend="numpy") - lim) for n in ns]
    slope = math.log(errs[1] / errs[0]) / math.log(ns[1] / ns[0])
    assert abs(slope + 2 / (d - 1)) < 0.01


# docs/claims.md [M] convergence table: the n at which the limit law is within 5% / 1% near E W_max = 1/2
@pytest.mark.parametrize("d,n5,n1", [(8, 4e3, 1e6), (16, 1e8, 1e13)])
def test_convergence_table_matches_claims(d, n5, n1):
    g = CP.gamma_at_half(d)
    lim = CP.expected_wmax(d, g, backend="numpy")
    rel = lambda n: abs(lim / FN.expected_wmax(n, CP.critical_beta(n, d, g), d, backend="numpy") - 1)
    # within a factor 3 in n of the quoted thresholds
    assert rel(n5 / 3) > 0.05 > rel(n5 * 3)
    assert rel(n1 / 3) > 0.01 > rel(n1 * 3)


def test_d3_within_one_percent_at_n100():
    # docs/claims.md: d = 3 within 1% at n >= 100 (error O(1/n))
    for g in (0.4, 1.0, 4.0):
        lim = CP.expected_wmax(3, g, backend="numpy")
        e100 = FN.expected_wmax(100, g * 100, 3, backend="numpy")
        e1000 = FN.expected_wmax(1000, g * 1000, 3, backend="numpy")
        assert abs(lim / e100 - 1) < 0.01
        assert 5 < abs(lim - e100) / abs(lim - e1000) < 20  # O(1/n)


@pytest.mark.parametrize("law,gamma", [
    (KL.VonMisesFisher(3, 2.0, 1.0), 1.0),
    pytest.param(KL.VonMisesFisher(5, 1.0, 0.5), 3.0, marks=pytest.mark.long),
    (KL.Subsphere(4, 0.8), 2.0)], ids=repr)
def test_general_laws_converge_to_their_poisson_limit(law, gamma):
    with mp.workdps(20):
        a = float(law.local_exponent())
    lim = CP.expected_wmax(gamma=gamma, law=law, backend="numpy")
    errs = []
    for n in (1e4, 1e6):
        beta = gamma * n ** (1 / a)
        errs.append(abs(FN.expected_wmax(n, beta, law=law, backend="numpy") - lim))
    assert errs[1] < errs[0] and errs[1] < 0.01


def test_gaussian_keys_move_slowly_towards_poisson_dirichlet():
    # docs/claims.md: E IPR -> 1 - 1/gamma, convergence only logarithmic
    gamma = 2.0
    law = KL.GaussianScores(1.0)
    target = float(CP.poisson_dirichlet_expected_ipr(1 / gamma))
    gaps = []
    for n in (1e2, 1e4, 1e8):
        beta = float(CP.gaussian_critical_beta(n, 1, gamma))
        gaps.append(abs(FN.expected_ipr(n, beta, law=law, backend="numpy") - target))
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] > 0.02  # still far at n = 1e8: logarithmic convergence


def test_weight_sums():
    for d, beta, n in [(3, 2.0, 100), (8, 40.0, 1e5), (16, 300.0, 1e9)]:
        assert abs(FN.expected_weight_sum(n, beta, 1, None, d, backend="numpy") - 1) < 1e-11


# ---- docs/claims.md's finite-n formulas taken literally (float64 tensor Gauss-Legendre), against the engine

def _rule(edges, q=24):
    t, w = np.polynomial.legendre.leggauss(q)
    X = np.concatenate([lo + (hi - lo) * (t + 1) / 2 for lo, hi in zip(edges[:-1], edges[1:])])
    W = np.concatenate([(hi - lo) / 2 * w for lo, hi in zip(edges[:-1], edges[1:])])
    return X, W


def _claims_wmax(n, beta, d):
    """E W_max = int_0^n dx int du e^-u [1 - x/n - chi(t_x, u)]^(n-1),
    chi(t, u) = int_0^inf [F(t - w/beta) - F(t)] u e^-w exp(-u e^-w) dw, in the deficit variable
    (x = n G(u_x), F(t_x - w/beta) = G(u_x + w/beta), G(u) = I_(u/2)(a, a))."""
    from scipy import special as sps
    a = (d - 1) / 2
    G = lambda u: sps.betainc(a, a, np.clip(u, 0, 2) / 2)
    ucut = float(2 * sps.betaincinv(a, a, min(1.0, 60.0 / n)))
    xi, wxi = _rule(np.linspace(0, ucut ** 0.5, 13))  # u_x = xi^2
    U = xi ** 2
    dens = np.exp((a - 1) * np.log(np.maximum(U * (2 - U), 1e-300)) - sps.betaln(a, a) - (2 * a - 1) * math.log(2))
    wx = n * dens * wxi * 2 * xi
    r, wr = _rule(np.array([0, 0.5, 2, 5, 10, 17, 26, 37, 50, 65.0]))
    w, ww = _rule(np.array([0, 0.25, 1, 2, 4, 7, 11, 16, 22, 30, 40, 55, 75.0]))
    diff = G(U[:, None] + w[None, :] / beta) - G(U)[:, None]
    kern = r[None, :] * np.exp(-w)[:, None] * np.exp(-r[None, :] * np.exp(-w)[:, None])
    chi = (diff * ww) @ kern
    inner = np.exp((n - 1) * np.log1p(-np.minimum(1, G(U)[:, None] + chi)))
    return (wx[:, None] * wr * np.exp(-r) * inner).sum()


def _claims_ipr_d3(n, beta):
    """E IPR = int_0^n dx int dv v e^-v [1 - E h(t_x, v)]^(n-1), E h(t, v) = int F(t - w/beta)
    v e^-w exp(-v e^-w) dw; for d = 3 (F linear in u) the inner integral is closed form:
    E h = (u_x/2)(1 - e^-z) + (log v (1 - e^-z) + Euler + e^-z log z + E1(z))/(2 beta), z = v e^(beta u_x)
    (the cap F <= 1 at u = 2 contributes below e^-(2 beta))."""
    from scipy import special as sps
    ucut = min(2.0, 2 * 80 / n)
    ux, wu = _rule(np.linspace(0, ucut, 17), 32)
    v, wv = _rule(np.concatenate([[0], np.geomspace(1e-12, 0.25, 12), [1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 70.0]]), 32)
    U, Vv = ux[:, None], v[None, :]
    z = Vv * np.exp(beta * U)
    e = np.exp(-z)
    with np.errstate(over="ignore", invalid="ignore"):
        E1 = sps.exp1(z)
        Eh = U / 2 * (1 - e) + (np.log(Vv) * (1 - e) + 0.5772156649015329
                                 + np.where(e > 0, e * np.log(z), 0.0) + E1) / (2 * beta)
    inner = np.exp((n - 1) * np.log1p(-Eh))
    return (n / 2 * wu[:, None] * wv * Vv * np.exp(-Vv) * inner).sum()


@pytest.mark.parametrize("d,gamma,n", [(3, 1.0, 1000), (8, 4.0, 1000), (8, 4.0, 1e6), (16, 14.9, 1e5)])
def test_claims_wmax_formula_equals_engine(d, gamma, n):
    beta = float(CP.critical_beta(n, d, gamma))
    assert abs(_claims_wmax(n, beta, d) - FN.expected_wmax(n, beta, d, backend="numpy")) < 1e-12


@pytest.mark.parametrize("n,gamma", [(100, 1.0), (1000, 1.0), (1e5, 0.4)])
def test_claims_ipr_formula_equals_engine_d3(n, gamma):
    assert abs(_claims_ipr_d3(n, gamma * n) - FN.expected_ipr(n, gamma * n, 3, backend="numpy")) < 1e-12
