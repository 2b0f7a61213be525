"""Law of t = <q,k> for uniform keys (score_law.py) against quadrature, Monte Carlo and docs/claims.md [M]."""

import math

import numpy as np
import pytest
from mpmath import mp
from scipy import stats

from attnspec.oracles.scaling_limits import score_law as SL
from attnspec.oracles.scaling_limits import vectorized as V

DIMS = [2, 3, 4, 8, 16]


def TOL(d):
    # the test's own quadrature of the d = 2 density (singular at both ends, 2 - u cancels next to
    # u = 2) is good to about 1e-18; the oracle itself matches the arcsin closed form to 1e-27
    return mp.mpf(10) ** (-17 if d == 2 else -25)


def _scaled_quad(f, lo, hi):
    """int_lo^hi f with x = lo + L sin(pi s/2)^2 (removes the power-law end singularities of
    the d = 2 density) and with the integrand scaled to O(1): mp.quad's error control is absolute."""
    L = hi - lo
    scale = abs(f(lo + L / 2))
    g = lambda s: f(lo + L * mp.sin(mp.pi * s / 2) ** 2) * mp.pi * mp.sin(mp.pi * s) / 2 / scale
    return scale * L * mp.quad(g, [0, mp.mpf(1) / 2, 1])


@pytest.mark.parametrize("d", DIMS)
def test_density_integrates_to_one(d):
    with mp.workdps(30):
        # in the deficit u = 1 - t, whose density is accurate at both ends (d = 2 is singular there)
        total = _scaled_quad(lambda u: SL.deficit_density(u, d, 40), 0, 2)
        assert abs(total - 1) < TOL(d)
        if d >= 3:
            assert abs(mp.quad(lambda t: SL.score_density(t, d, 40), [-1, 0, 1]) - 1) < mp.mpf(10) ** -25


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("u", ["1e-12", "1e-4", "0.3", "1", "1.7"])
def test_cdf_equals_quadrature_of_density(d, u):
    with mp.workdps(30):
        u = mp.mpf(u)
        f = lambda x: SL.deficit_density(x, d, 40)
        q = _scaled_quad(f, 0, u) if u <= 1 else 1 - _scaled_quad(f, u, 2)
        F = SL.deficit_cdf(u, d, 30)
        assert abs(F - q) <= TOL(d) * q  # relative, also at u = 1e-12


@pytest.mark.parametrize("u", ["1e-30", "1e-6", "0.5", "1.5", "1.99"])
def test_cdf_closed_forms_d2_d3(u):
    # d = 2: P(u) = (2/pi) asin(sqrt(u/2)); d = 3: P(u) = u/2 (Archimedes)
    with mp.workdps(30):
        u = mp.mpf(u)
        assert abs(SL.deficit_cdf(u, 2, 30) / (2 / mp.pi * mp.asin(mp.sqrt(u / 2))) - 1) < mp.mpf(10) ** -27
        assert abs(SL.deficit_cdf(u, 3, 30) / (u / 2) - 1) < mp.mpf(10) ** -27


@pytest.mark.parametrize("d", DIMS)
def test_score_cdf_is_complement_of_deficit_cdf(d):
    with mp.workdps(30):
        for t in ["-0.9", "0", "0.5", "0.999"]:
            assert abs(SL.score_cdf(t, d) - (1 - SL.deficit_cdf(1 - mp.mpf(t), d))) < mp.mpf(10) ** -28


def test_small_ball_constant_matches_claims_quoted_values():
    # docs/claims.md [M]: C_3 = 1/2, C_8 = 1.6462927, C_16 = 18.338191 (quoted to 8 significant digits)
    assert SL.small_ball_constant(3) == mp.mpf(1) / 2
    assert abs(SL.small_ball_constant(8) - mp.mpf("1.6462927")) < 5e-8
    assert abs(SL.small_ball_constant(16) - mp.mpf("18.338191")) < 5e-7


@pytest.mark.parametrize("d", DIMS)
def test_small_ball_expansion_against_exact_cdf(d):
    with mp.workdps(40):
        C, a, c1 = SL.small_ball_expansion(d, 40)
        for u in [mp.mpf("1e-6"), mp.mpf("1e-4")]:
            ratio = SL.deficit_cdf(u, d, 40) / (C * u ** a)
            # ratio = 1 + c1 u + O(u^2); the O(u^2) coefficient is below a^4 for these d
            assert abs(ratio - 1 - c1 * u) <= (a ** 4 + 1) * u * u


def test_small_ball_validity_scale():
    assert SL.small_ball_validity_scale(3) == mp.inf
    # |c1| ~ (d-1)/4: the power law needs u << 4/(d-1)
    for d in (8, 16, 64):
        s = SL.small_ball_validity_scale(d)
        assert 4 / (d - 1) < s < 8 / (d - 1) + 1


@pytest.mark.parametrize("d", [3, 8])
def test_deficit_quantile_roundtrip(d):
    with mp.workdps(25):
        for p in ["1e-9", "0.01", "0.5", "0.99"]:
            u = SL.deficit_quantile(p, d, 25)
            assert abs(SL.deficit_cdf(u, d, 25) - mp.mpf(p)) < mp.mpf(10) ** -20 * mp.mpf(p)


@pytest.mark.parametrize("d", [3, 8, 16])
def test_cdf_against_monte_carlo_keys(d):
    # independent route: normalised Gaussian vectors; KS test at false-alarm rate 1e-6
    rng = np.random.default_rng(1234 + d)
    k = rng.standard_normal((20000, d))
    t = k[:, 0] / np.linalg.norm(k, axis=1)
    # the float64 twin (held against score_cdf in test_vectorized.py) keeps this test fast
    cdf = lambda x: 1 - V.deficit_cdf(1 - np.asarray(x), d)
    res = stats.kstest(t, cdf)
    assert res.pvalue > 1e-6
