"""The exact limit sampler (limit_sampler.py) against the quadrature oracles.

Each check is a z-test at 4.89 standard errors (two-sided false-alarm rate 1e-6, normal
approximation; N >= 20000 draws) with a fixed numpy seed."""

import math

import numpy as np
import pytest

from attnspec.oracles.scaling_limits import critical_poisson as CP
from attnspec.oracles.scaling_limits import limit_sampler as LS

Z = 4.89


def _z(x, mu):
    return (np.mean(x) - mu) / (np.std(x) / math.sqrt(len(x)))


@pytest.mark.parametrize("d,gamma", [(3, 1.0), (8, 4.0), (16, 14.9)])
def test_means_against_oracles(d, gamma):
    rng = np.random.default_rng(99 + d)
    s = LS.sample_critical_limit(rng, 20000, d=d, gamma=gamma)
    # the tail beyond K points is replaced by its mean; its fluctuation (relative to the largest
    # weight, worst draw) shifts W_max by at most about tail_sd^2, far below the 0.2/sqrt(N) resolution
    assert s["tail_sd"] < 1e-3
    assert abs(_z(s["w_max"], CP.expected_wmax(d, gamma, backend="numpy"))) < Z
    assert abs(_z(s["ipr"], CP.expected_ipr(d, gamma, backend="numpy"))) < Z
    assert abs(_z(s["S"], float(CP.limit_mean_normaliser(d, gamma)))) < Z
    om = CP.output_moments(d, gamma, backend="numpy")
    assert abs(_z(s["sum_wx"] / gamma, om["mean_deficit"])) < Z
    assert abs(_z(2 * s["sum_w2x"] / gamma, om["tangent_sq"])) < Z
    # Var S = Gamma(a+1) c 2^-a: chi-square-free check through E S^2
    VS = float(CP.limit_var_normaliser(d, gamma))
    ES = float(CP.limit_mean_normaliser(d, gamma))
    assert abs(_z(s["S"] ** 2, VS + ES * ES)) < Z


def test_sampler_detects_a_wrong_limit():
    # power check: the same test rejects the d = 3 limit at gamma = 1.1 instead of 1
    rng = np.random.default_rng(5)
    s = LS.sample_critical_limit(rng, 20000, d=3, gamma=1.0)
    assert abs(_z(s["w_max"], CP.expected_wmax(3, 1.1, backend="numpy"))) > Z
