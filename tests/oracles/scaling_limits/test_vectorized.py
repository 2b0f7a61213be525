"""Fast float64 versions (vectorized.py) held against their mpmath twins."""

import numpy as np
import pytest
from mpmath import mp

from attnspec.oracles.scaling_limits import critical_poisson as CP
from attnspec.oracles.scaling_limits import finite_n as FN
from attnspec.oracles.scaling_limits import heat_kernel as HK
from attnspec.oracles.scaling_limits import partition as P
from attnspec.oracles.scaling_limits import score_law as SL
from attnspec.oracles.scaling_limits import supercritical as SC
from attnspec.oracles.scaling_limits import vectorized as V
from attnspec.oracles.scaling_limits import wmax_d3 as W

DS = [2, 3, 4, 8, 16, 64]
BETAS = [0.01, 0.7, 5.0, 60.0, 3000.0]


def rel(a, b):
    return abs(float(a) / float(b) - 1)


def test_small_ball_and_near_tie_constants():
    for d in DS:
        assert rel(V.small_ball_constant(d), SL.small_ball_constant(d)) < 1e-13
        if d >= 3:
            assert rel(V.near_tie_constant(d), SC.near_tie_constant(d)) < 1e-13


def test_deficit_cdf():
    u = np.array([1e-14, 1e-6, 0.01, 0.5, 1.0, 1.5, 1.999])
    for d in DS:
        got = V.deficit_cdf(u, d)
        for x, g in zip(u, got):
            ref = SL.deficit_cdf(x, d)
            if ref > 1e-290:  # below, float64 underflows (d = 64: P(u <= 1e-14) ~ 1e-433)
                assert rel(g, ref) < 1e-12


def test_partition_quantities():
    for d in DS:
        for b in BETAS:
            assert abs(V.log_partition_function(b, d) - float(P.log_partition_function(b, d))) < 1e-12 * max(1, b)
            assert rel(V.mean_resultant(b, d), P.mean_resultant(b, d)) < 1e-13
            assert rel(V.tilted_second_moment(b, d), P.tilted_second_moment(b, d)) < 1e-9
            assert rel(V.second_moment_ratio(b, d), P.second_moment_ratio(b, d)) < 1e-10 * max(1, b)
            assert rel(V.normaliser_mean(1e6, b, d), P.normaliser_mean(1e6, b, d)) < 1e-12 * max(1, b)
            for l in (0, 1, 3):
                assert rel(V.heat_eigenvalue(l, b, d), HK.heat_eigenvalue(l, b, d)) < 1e-12


def test_critical_closed_forms():
    for d in (3, 8, 16):
        for g in (0.3, 4.0, 50.0):
            assert rel(V.critical_beta(1e6, d, g), CP.critical_beta(1e6, d, g)) < 1e-14
            assert rel(V.limit_mean_normaliser(d, g), CP.limit_mean_normaliser(d, g)) < 1e-13
            assert rel(V.limit_var_normaliser(d, g), CP.limit_var_normaliser(d, g)) < 1e-13


def test_ein_and_d3_wmax():
    s = np.array([1e-8, 0.1, 0.49, 0.51, 3.0, 40.0, 700.0])
    for x, g in zip(s, V.ein(s)):
        assert rel(g, W.ein(x)) < 1e-14
    gam = np.array([0.05, 0.4, 1.0, 10.0, 1000.0])
    got = V.expected_wmax_d3(gam)
    got2 = V.expected_wmax_d3(gam, moment=2)
    for g, a, b in zip(gam, got, got2):
        assert rel(a, W.expected_wmax_d3(g)) < 1e-13
        assert rel(b, W.expected_wmax_d3(g, 2)) < 1e-13


def test_poisson_dirichlet():
    al = np.array([0.1, 0.5, 0.9])
    for a, g in zip(al, V.poisson_dirichlet_expected_wmax(al)):
        assert rel(g, CP.poisson_dirichlet_expected_wmax(a)) < 1e-12


@pytest.mark.long
def test_engine_values_against_mpmath_twins():
    # the mpmath sum functional takes ~10 s per value; the W_max twins run by default in
    # test_critical_poisson.py and test_finite_n.py
    with mp.workdps(20):
        assert rel(V.expected_ipr_limit_engine(8, 4.0), CP.expected_ipr(8, 4.0, dps=20)) < 1e-12
        n, beta = 1e5, float(CP.critical_beta(1e5, 16, 14.9))
        assert rel(V.expected_ipr_finite_engine(n, beta, 16), FN.expected_ipr(n, beta, 16, dps=20)) < 1e-12


@pytest.mark.long
@pytest.mark.parametrize("d,gamma", [(3, 0.2), (8, 20.0), (16, 5.0), (64, 85.0)])
def test_engine_values_against_mpmath_twins_long(d, gamma):
    with mp.workdps(20):
        assert rel(V.expected_wmax_limit_engine(d, gamma), CP.expected_wmax(d, gamma, dps=20)) < 1e-12
        n = 1e7
        beta = float(CP.critical_beta(n, d, gamma))
        assert rel(V.expected_wmax_finite_engine(n, beta, d), FN.expected_wmax(n, beta, d, dps=20)) < 1e-12
