"""Population quantities (partition.py) against quadrature over the score density and Monte Carlo."""

import numpy as np
import pytest
from mpmath import mp

from attnspec.oracles.scaling_limits import partition as P
from attnspec.oracles.scaling_limits.score_law import score_density

CASES = [(d, b) for d in (2, 3, 5, 8, 16) for b in ("0.1", "3", "40")]


def TOL(d):
    return mp.mpf(10) ** (-17 if d == 2 else -25)


def _tilted(d, beta, g):
    """int f(t) e^(beta t) g(t) dt, computed in the deficit u = 1 - t (accurate near t = 1).

    At d = 2 the density is singular at both ends and 2 - u loses digits next to u = 2, which
    limits this test quadrature (not the oracle) to about 1e-18; TOL below accounts for it."""
    from attnspec.oracles.scaling_limits.score_law import deficit_density
    b = mp.mpf(beta)
    f = lambda u: deficit_density(u, d, 45) * mp.exp(-b * u) * g(1 - u)
    edges = [mp.mpf(0)] + [x for x in (1 / b, 10 / b, 40 / b) if x < 2] + [mp.mpf(2)]
    total = 0
    for lo, hi in zip(edges[:-1], edges[1:]):
        # x = lo + L sin(pi s/2)^2 removes the end singularities of the d = 2 density
        L = hi - lo
        h = lambda s: f(lo + L * mp.sin(mp.pi * s / 2) ** 2) * mp.pi * mp.sin(mp.pi * s) / 2
        total += L * mp.quad(h, [0, mp.mpf(1) / 2, 1])
    return mp.exp(b) * total


@pytest.mark.parametrize("d,beta", CASES)
def test_partition_function_is_tilted_mass(d, beta):
    with mp.workdps(35):
        q = _tilted(d, beta, lambda t: 1)
        assert abs(P.partition_function(beta, d, 35) / q - 1) < TOL(d)


@pytest.mark.parametrize("d,beta", CASES)
def test_mean_resultant_and_second_moment(d, beta):
    with mp.workdps(35):
        Z = _tilted(d, beta, lambda t: 1)
        A = _tilted(d, beta, lambda t: t) / Z
        T2 = _tilted(d, beta, lambda t: t * t) / Z
        assert abs(P.mean_resultant(beta, d, 35) - A) < TOL(d)
        assert abs(P.tilted_second_moment(beta, d, 35) - T2) < TOL(d)


@pytest.mark.parametrize("d,beta", CASES)
def test_ratio_and_exact_normaliser_moments(d, beta):
    with mp.workdps(35):
        b = mp.mpf(beta)
        Z1, Z2 = _tilted(d, b, lambda t: 1), _tilted(d, 2 * b, lambda t: 1)
        assert abs(P.second_moment_ratio(b, d, 35) - Z2 / Z1 ** 2) < TOL(d) * Z2 / Z1 ** 2
        n = 1000
        # E D = n E e^(-beta u) = n e^(-beta) Z;  Var D = n Var(e^(-beta u))
        assert abs(P.normaliser_mean(n, b, d, 35) / (n * mp.exp(-b) * Z1) - 1) < TOL(d)
        v = n * (mp.exp(-2 * b) * Z2 - (mp.exp(-b) * Z1) ** 2)
        assert abs(P.normaliser_variance(n, b, d, 35) / v - 1) < TOL(d) * 1e5  # Var is a difference: loses digits
        assert abs(P.effective_sample_size(n, b, d, 35) - n * Z1 ** 2 / Z2) < TOL(d) * n


def test_beta_zero_limits():
    assert P.partition_function(0, 5) == 1
    assert P.mean_resultant(0, 5) == 0
    with mp.workdps(30):
        assert abs(P.tilted_second_moment(0, 5, 30) - mp.mpf(1) / 5) < mp.mpf(10) ** -28


def test_closed_forms_d2_d3():
    # d = 3: Z = sinh(beta)/beta; d = 2: Z = I_0(beta)
    with mp.workdps(30):
        for b in (mp.mpf("0.1"), mp.mpf(3), mp.mpf(40)):
            assert abs(P.partition_function(b, 3, 30) / (mp.sinh(b) / b) - 1) < mp.mpf(10) ** -27
            assert abs(P.partition_function(b, 2, 30) / mp.besseli(0, b) - 1) < mp.mpf(10) ** -27


@pytest.mark.parametrize("d", [3, 8, 16])
def test_mean_direction_asymptotic_bias(d):
    # A_d(beta) - 1 ~ -(d-1)/(2 beta): relative error O(1/beta)
    for beta in (1e3, 1e4):
        r = (P.mean_resultant(beta, d) - 1) / (-(d - 1) / (2 * mp.mpf(beta)))
        assert abs(r - 1) < 2 * d / beta


def test_partition_function_against_monte_carlo():
    # 2e5 normalised Gaussian keys, d = 5, beta = 3: z-test at 4.89 sigma (false alarm 1e-6)
    rng = np.random.default_rng(7)
    d, beta, N = 5, 3.0, 200_000
    k = rng.standard_normal((N, d))
    t = k[:, 0] / np.linalg.norm(k, axis=1)
    x = np.exp(beta * t)
    z = (x.mean() - float(P.partition_function(beta, d))) / (x.std() / np.sqrt(N))
    assert abs(z) < 4.89
    y = x * t
    z = (y.mean() / x.mean() - float(P.mean_resultant(beta, d))) / (np.std(y - x * float(P.mean_resultant(beta, d))) / np.sqrt(N) / x.mean())
    assert abs(z) < 4.89
