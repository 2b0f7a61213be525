"""E[M] = exp(B) for both schemes (expectation.py): enumeration and quadrature in mpmath."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mpmath import mp

from attnspec.oracles.alibi_lsh import expectation as E
from attnspec.oracles.attention.problem import AttentionProblem
from attnspec.oracles.attention.visibility import alibi_distance, visible_keys


def max_abs(a, b):
    return max(abs(x - y) for x, y in zip(a, b))


@pytest.mark.parametrize("n", [1, 2, 5, 9])
@pytest.mark.parametrize("slope", ["0", "1e-6", "0.3", "2.5"])
def test_gap_cut_enumeration_equals_kms(n, slope):
    # 50 digits asked; the enumeration sums at most 2^(n-1) terms with 10 guard digits
    with mp.workdps(50):
        gap = E.gap_cut_expected_mask_enumerated(n, slope, dps=50)
        assert max_abs(gap, E.kms_matrix_mp(n, slope, dps=50)) < mp.mpf(10) ** -48


@pytest.mark.long
@pytest.mark.parametrize("slope", ["0.05", "0.7"])
def test_gap_cut_enumeration_equals_kms_n12(slope):
    with mp.workdps(50):
        gap = E.gap_cut_expected_mask_enumerated(12, slope, dps=50)
        assert max_abs(gap, E.kms_matrix_mp(12, slope, dps=50)) < mp.mpf(10) ** -48


@pytest.mark.parametrize("n", [3, pytest.param(7, marks=pytest.mark.long)])
def test_binning_quadrature_equals_kms(n):
    # every pair by its own quadrature over the width; 25 of the 30 digits asked
    with mp.workdps(30):
        binning = E.binning_expected_mask_quadrature(n, "0.7", dps=30)
        assert max_abs(binning, E.kms_matrix_mp(n, "0.7", dps=30)) < mp.mpf(10) ** -25


@pytest.mark.parametrize("i,j,slope", [(0, 0, "0.01"), (3, 4, "0.01"), (10, 3, "0.25"), (2, 42, "0.125")])
def test_binning_collision_probability_closed_form(i, j, slope):
    with mp.workdps(30):
        p = E.binning_collision_probability(i, j, slope, dps=30)
        assert abs(p - mp.exp(-mp.mpf(slope) * abs(i - j))) < mp.mpf(10) ** -25


@settings(max_examples=200, deadline=None)
@given(i=st.integers(0, 50), d=st.integers(0, 30), width=st.floats(1e-3, 100.0))
def test_shift_measure_is_width_minus_distance(i, d, width):
    # the enumerated measure of shifts keeping i, i + d in one bucket is (b - d)_+, exactly in
    # exact arithmetic; 40 digits leave room for the interval endpoints' rounding
    with mp.workdps(40):
        measure = E.binning_same_bucket_shift_measure(i, i + d, width)
        assert abs(measure - max(mp.mpf(width) - d, 0)) < mp.mpf(10) ** -30 * (1 + i + d)


@settings(max_examples=30, deadline=None)
@given(lq=st.integers(1, 12), extra=st.integers(0, 12), slope=st.floats(0.0, 4.0),
       causal=st.sampled_from([None, "top_left", "bottom_right"]))
def test_alibi_expectation_is_the_contracts_bias(lq, extra, slope, causal):
    # log E[M o L] is the contract's ALiBi bias on the visible keys (attention wing's own rules)
    lk = lq + extra
    rng = np.random.default_rng(0)
    problem = AttentionProblem.build(rng.standard_normal((1, 1, lq, 2)), rng.standard_normal((1, 1, lk, 2)),
                                     rng.standard_normal((1, 1, lk, 2)), causal=causal,
                                     alibi_slopes=np.array([slope]))
    visible = visible_keys(problem)[0, 0]
    expected = E.alibi_expectation(lq, lk, slope, causal)
    assert np.all(expected[~visible] == 0)
    assert np.array_equal(expected[visible], np.exp(-slope * alibi_distance(problem))[visible])


@pytest.mark.parametrize("causal", ["top_left", "bottom_right"])
def test_expected_causal_mask_is_causal_alibi(causal):
    # E[M o L] = E[M] o L with L the causal pattern (square: both alignments agree)
    n, slope = 7, "0.4"
    with mp.workdps(30):
        gap = E.gap_cut_expected_mask_enumerated(n, slope, dps=30)
        causal_expected = E.alibi_expectation(n, n, float(slope), causal)
        for i in range(n):
            for j in range(n):
                enumerated = float(gap[i, j]) if j <= i else 0.0
                assert abs(enumerated - causal_expected[i, j]) <= 2 * 2.0**-53  # exp: < 1 ulp each


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 30), slope=st.floats(0.0, 10.0))
def test_kms_matrix_float64_within_an_ulp(n, slope):
    with mp.workdps(30):
        exact = E.kms_matrix_mp(n, slope, dps=30)  # mpf(float) is exact
        p = E.kms_matrix(n, slope)
        # numpy's exp is within 1 ulp; slope * d is rounded (relative u), moving exp by u slope d
        for i in range(n):
            for j in range(n):
                tol = (2 + slope * abs(i - j)) * 2.0**-53 * float(exact[i, j])
                assert abs(p[i, j] - float(exact[i, j])) <= tol + 1e-320
