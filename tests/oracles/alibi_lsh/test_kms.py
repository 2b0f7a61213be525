"""Kac-Murdock-Szego facts (kms.py): spectrum interval, tridiagonal inverse, 1^T P 1 as a mask's cost."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mpmath import mp

from attnspec.oracles.alibi_lsh import expectation as E
from attnspec.oracles.alibi_lsh import kms as K
from attnspec.oracles.alibi_lsh import schemes as S

U = 2.0 ** -53


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 80), slope=st.floats(1e-3, 6.0))
def test_spectrum_lies_in_the_interval(n, slope):
    low, high = K.kms_spectrum_interval(slope)
    eigenvalues = np.linalg.eigvalsh(E.kms_matrix(n, slope))
    # eigvalsh's error is a few n u ||P||_2 < n u coth(slope/2): tolerance 8 n u high
    assert eigenvalues.min() >= low - 8 * n * U * high
    assert eigenvalues.max() <= high + 8 * n * U * high


@pytest.mark.parametrize("slope", [0.5, 1.0])
def test_spectrum_interval_is_tight_for_long_contexts(slope):
    # the extreme eigenvalues approach the symbol's range like 1/n^2: within 1% at n = 100/slope
    low, high = K.kms_spectrum_interval(slope)
    eigenvalues = np.linalg.eigvalsh(E.kms_matrix(int(100 / slope), slope))
    assert eigenvalues.max() >= 0.99 * high and eigenvalues.min() <= 1.01 * low


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 60), slope=st.floats(1e-2, 20.0))
def test_tridiagonal_inverse_times_p_is_identity(n, slope):
    product = E.kms_matrix(n, slope) @ K.kms_inverse(n, slope)
    # three terms per entry; inputs rounded to (2 + slope d) u relative (slope d rho^d <= 1/e),
    # |P| |P^-1| row sums <= coth(slope/2): error <= 16 u coth(slope/2)
    assert np.abs(product - np.eye(n)).max() <= 16 * U * K.kms_spectrum_interval(slope)[1]


@pytest.mark.parametrize("n,slope", [(1, "0.5"), (2, "0.001"), (7, "0.3"), (8, "3")])
def test_tridiagonal_inverse_exact(n, slope):
    with mp.workdps(50):
        product = E.kms_matrix_mp(n, slope, dps=50) * K.kms_inverse_mp(n, slope, dps=50)
        assert max(abs(x) for x in product - mp.eye(n)) < mp.mpf(10) ** -45 * (1 + 1 / mp.mpf(slope))


@pytest.mark.parametrize("n", [1, 2, 17, 300])
@pytest.mark.parametrize("slope", ["0", "1e-9", "0.02", "1.5"])
def test_total_sum_closed_form(n, slope):
    with mp.workdps(30):
        rho = mp.exp(-mp.mpf(slope))
        direct = n + 2 * mp.fsum((n - d) * rho ** d for d in range(1, n))
        assert abs(K.kms_total_sum_mp(n, slope) - direct) <= mp.mpf(10) ** -25 * direct


@pytest.mark.parametrize("n,slope", [(6, "0.4"), (9, "0.05")])
def test_total_sum_is_the_expected_sum_of_squared_block_sizes(n, slope):
    # enumerate the cut patterns directly: E[sum over blocks of size^2]
    with mp.workdps(30):
        m = mp.mpf(slope)
        rho, cut = mp.exp(-m), -mp.expm1(-m)
        expected = mp.zero
        for pattern in range(1 << (n - 1)):
            cuts = [g for g in range(n - 1) if pattern >> g & 1]
            ends = [-1, *cuts, n - 1]
            sizes = [b - a for a, b in zip(ends, ends[1:])]
            expected += cut ** len(cuts) * rho ** (n - 1 - len(cuts)) * sum(x * x for x in sizes)
        assert abs(expected - K.kms_total_sum_mp(n, slope)) < mp.mpf(10) ** -25


@pytest.mark.parametrize("slope", [0.5, 1 / 32])
def test_binning_cost_matches_monte_carlo(slope):
    # s = 4000 draws of sum_blocks size^2; two-sided z at 1e-6 (4.89 sample sd of the mean)
    n, s = 200, 4000
    ids = S.binning_block_ids(n, slope, s, np.random.default_rng(21))
    costs = np.array([(S.block_sizes(row) ** 2).sum() for row in ids])
    z = (costs.mean() - K.expected_mask_cost(n, slope)) / (costs.std(ddof=1) / math.sqrt(s))
    assert abs(z) < 4.89


def test_cost_is_about_two_n_sigma():
    # n coth(slope/2) - O(1/slope^2): at n = 1e5, sigma = 64, within 1% of 2 n sigma
    assert abs(K.expected_mask_cost(100_000, 1 / 64) / (2 * 100_000 * 64) - 1) < 0.01
