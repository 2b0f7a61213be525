"""Exact d = 3 law of W_max (wmax_d3.py): generalised Dickman distribution of R."""

import math

import numpy as np
import pytest
from mpmath import mp

from attnspec.oracles.scaling_limits import critical_poisson as CP
from attnspec.oracles.scaling_limits import limit_sampler as LS
from attnspec.oracles.scaling_limits import wmax_d3 as W


@pytest.mark.parametrize("gamma,quoted", [(1, "0.72948821465467"), (0.4, "0.500713")])
def test_expected_wmax_matches_claims(gamma, quoted):
    v = W.expected_wmax_d3(gamma, dps=25)
    assert abs(v - mp.mpf(quoted)) <= 0.5 * 10 ** -(len(quoted) - 2)


@pytest.mark.parametrize("gamma", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_moments_against_engine(gamma, k):
    assert abs(float(W.expected_wmax_d3(gamma, k)) - CP.expected_wmax(3, gamma, moment=k, backend="numpy")) < 1e-12


@pytest.mark.parametrize("theta", ["0.5", "1.25"])
def test_cdf_laplace_transform(theta):
    # int_0^inf s e^(-s r) F(r) dr = E e^(-s R) = exp(-theta Ein(s)); s = 20 makes r > 2 negligible
    with mp.workdps(20):
        th, s = mp.mpf(theta), mp.mpf(20)
        F = lambda r: W.dickman_cdf(r, th, 20)
        val = mp.quad(lambda r: s * mp.exp(-s * r) * F(r), [0, mp.mpf(1) / 4, 1, mp.mpf(3) / 2, 2])
        tail = mp.exp(-2 * s)  # F <= 1 beyond r = 2
        ref = mp.exp(-th * W.ein(s))
        assert abs(val - ref) < tail + mp.mpf(10) ** -15


def test_cdf_continuity_and_density():
    with mp.workdps(25):
        th = mp.mpf("0.5")
        eps = mp.mpf(10) ** -12
        assert abs(W.dickman_cdf(1 + eps, th, 25) - W.dickman_cdf(1, th, 25)) < mp.mpf(10) ** -10
        # density on (1/2, 1): derivative of the CDF of W_max
        w, h = mp.mpf("0.8"), mp.mpf(10) ** -8
        num = (W.wmax_cdf_d3(w + h, 1, 25) - W.wmax_cdf_d3(w - h, 1, 25)) / (2 * h)
        assert abs(num - W.wmax_pdf_d3(w, 1, 25)) < mp.mpf(10) ** -12


@pytest.mark.long
def test_delay_equation_against_gil_pelaez():
    # two independent inversions of the same law agree (r = 1.5 and 2.5; 12 digits to stay fast)
    with mp.workdps(12):
        for r in ("1.5", "2.5"):
            a = W.dickman_cdf_delay(r, "1.25", 12)
            b = W.dickman_cdf_gil_pelaez(r, "1.25", 12)
            assert abs(a - b) < mp.mpf(10) ** -10


def test_prob_wmax_above_half():
    with mp.workdps(20):
        assert abs(W.prob_wmax_is_one_half_or_more_d3(1) - (1 - W.wmax_cdf_d3(mp.mpf(1) / 2, 1))) < mp.mpf(10) ** -18


def test_law_against_limit_sampler():
    # binomial z-tests of P(W_max <= w) at w = 0.55, 0.7, 0.9 (gamma = 1), 4.89 sigma each
    rng = np.random.default_rng(2024)
    N = 40000
    s = LS.sample_critical_limit(rng, N, d=3, gamma=1.0)
    for w in (0.55, 0.7, 0.9):
        p = float(W.wmax_cdf_d3(w, 1, 15))
        phat = np.mean(s["w_max"] <= w)
        assert abs(phat - p) < 4.89 * math.sqrt(p * (1 - p) / N)
