"""Subcritical formulas (subcritical.py) against the exact finite-n oracle: ratios -> 1 as n_eff grows."""

import pytest
from mpmath import mp

from attnspec.oracles.scaling_limits import finite_n as FN
from attnspec.oracles.scaling_limits import partition as P
from attnspec.oracles.scaling_limits import subcritical as SUB


@pytest.mark.parametrize("d,beta", [(3, 20.0), (8, 20.0), (8, 50.0)])
def test_expansions_against_exact_finite_n(d, beta):
    devs = []
    for n_eff in (1e3, 1e5):
        n = n_eff * float(P.second_moment_ratio(beta, d))
        ex = FN.output_moments(n, beta, d, backend="numpy")
        A = float(P.mean_resultant(beta, d))
        r_mean = (ex["mean_along_q"] - A) / (float(SUB.mean_output_along_query(n, beta, d)) - A)
        r_tan = ex["tangent_var"] / float(SUB.tangent_variance(n, beta, d))
        r_q = ex["var_along_q"] / float(SUB.along_query_variance(n, beta, d))
        devs.append(max(abs(r_mean - 1), abs(r_tan - 1), abs(r_q - 1)))
    # corrections are O(1/n_eff): below 10/n_eff, shrinking 100x between n_eff = 1e3 and 1e5
    assert devs[0] < 10 / 1e3 and devs[1] < 10 / 1e5
    assert devs[0] / devs[1] > 30


def test_asymptotic_forms():
    d = 8
    for beta in (1e3, 1e4):
        n = 1e9
        for exact, asym in [(SUB.tangent_variance, SUB.tangent_variance_asymptotic),
                            (SUB.along_query_variance, SUB.along_query_variance_asymptotic)]:
            assert abs(exact(n, beta, d) / asym(n, beta, d) - 1) < 3 * d / beta
        assert abs(SUB.deterministic_bias(beta, d) / SUB.deterministic_bias_asymptotic(beta, d) - 1) < d / beta


def test_normaliser_relative_variance_is_exact():
    with mp.workdps(30):
        n, beta, d = 1e4, 7, 5
        ED, VD = P.normaliser_mean(n, beta, d), P.normaliser_variance(n, beta, d)
        assert abs(SUB.normaliser_relative_variance(n, beta, d) - VD / ED ** 2) < mp.mpf(10) ** -25


def test_trust_threshold():
    assert SUB.second_order_trust_threshold(3) == 20.0
    assert SUB.second_order_trust_threshold(17) == 2560.0
