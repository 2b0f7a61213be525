"""Block-width law and the largest block over s draws (block_widths.py)."""

import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from mpmath import mp

from attnspec.oracles.alibi_lsh import block_widths as W
from attnspec.oracles.alibi_lsh import expectation as E
from attnspec.oracles.alibi_lsh import schemes as S

FALSE_ALARM = 1e-6


def binomial_accepts(count, trials, p, tests=1):
    """count within the two-sided exact Binomial(trials, p) interval at FALSE_ALARM / tests."""
    a = FALSE_ALARM / (2 * tests)
    return scipy.stats.binom.ppf(a, trials, p) <= count <= scipy.stats.binom.isf(a, trials, p)


@settings(max_examples=100, deadline=None)
@given(x=st.floats(0.0, 500.0), slope=st.floats(1e-3, 10.0))
def test_width_survival_is_gamma_two(x, slope):
    # literature form of the Gamma(2, scale sigma) survival function (scipy), relative 1e-12
    reference = scipy.stats.gamma(a=2, scale=1 / slope).sf(x)
    assert abs(W.binning_width_survival(x, slope) - reference) <= 1e-12 * reference + 1e-300


@pytest.mark.parametrize("slope", [0.5, 1 / 16])
def test_sampler_widths_follow_the_law(slope):
    # 20 000 widths from the sampler; counts above x = sigma, 2 sigma, 5 sigma, exact binomial
    s = 20_000
    widths, _ = S.binning_draws(slope, s, np.random.default_rng(31))
    for t in (1, 2, 5):
        count = (widths > t / slope).sum()
        assert binomial_accepts(count, s, W.binning_width_survival(t / slope, slope), tests=3)


@pytest.mark.parametrize("s", [1, 8, 128])
def test_largest_width_quantile_inverts_the_law(s):
    for delta in (0.5, 0.1, 1e-6):
        x = W.binning_largest_width_quantile(delta, 0.25, s)
        assert abs((1 - W.binning_largest_width_cdf(x, 0.25, s)) - delta) <= 1e-10 * delta
        assert W.binning_largest_width_union_bound(x, 0.25, s) >= delta * (1 - 1e-12)  # = at s = 1


def test_largest_width_over_draws_monte_carlo():
    # 20 000 groups of s = 8 draws: P(max width > x_0.1) = 0.1 exactly
    slope, s, groups = 1 / 8, 8, 20_000
    widths, _ = S.binning_draws(slope, s * groups, np.random.default_rng(32))
    largest = widths.reshape(groups, s).max(axis=1)
    x = W.binning_largest_width_quantile(0.1, slope, s)
    assert binomial_accepts((largest > x).sum(), groups, 0.1)


@settings(max_examples=40, deadline=None)
@given(slope=st.floats(0.02, 2.0), seed=st.integers(0, 2**32 - 1))
def test_largest_block_in_positions_is_at_most_ceil_of_the_width(slope, seed):
    widths, shifts = S.binning_draws(slope, 16, np.random.default_rng(seed))
    ids = S.binning_block_ids_from_draws(300, widths, shifts)
    for b, row in zip(widths, ids):
        assert S.block_sizes(row).max() <= math.ceil(b)


def test_gap_cut_block_size_law():
    with mp.workdps(20):
        slope = 0.3
        total = mp.nsum(lambda k: W.gap_cut_block_size_pmf(int(k), slope), [1, mp.inf])
        mean = mp.nsum(lambda k: k * W.gap_cut_block_size_pmf(int(k), slope), [1, mp.inf])
        # float64 terms (relative ~ (k + 2) u each): the sums to 1e-13
        assert abs(total - 1) < 1e-13
        assert abs(mean - 1 / math.tanh(slope / 2)) < 1e-12  # E S = coth(slope/2) = the row sum of P


def test_gap_cut_largest_block_tail_bound_monte_carlo():
    # 20 000 masks of n = 256, slope 0.25, B = 30: frequency of a block > B below the bound
    n, slope, cap, s = 256, 0.25, 30, 20_000
    ids = S.gap_cut_block_ids(n, slope, s, np.random.default_rng(33))
    largest = np.array([S.block_sizes(row).max() for row in ids])
    bound = W.gap_cut_largest_block_tail_bound(n, slope, cap)
    assert (largest > cap).sum() <= scipy.stats.binom.isf(FALSE_ALARM, s, min(bound, 1.0))


@pytest.mark.parametrize("cap", [0, 1, 5, 40])
@pytest.mark.parametrize("slope", ["0.05", "0.7"])
def test_cap_bias_closed_form_and_the_first_stated_form(cap, slope):
    with mp.workdps(30):
        m = mp.mpf(slope)
        rho, c = mp.exp(-m), -mp.expm1(-m)
        series = c ** 2 * mp.nsum(lambda k: k ** 2 * rho ** (k - 1), [cap + 1, mp.inf])
        bias = W.gap_cut_cap_bias(slope, cap)
        assert abs(bias - series) < mp.mpf(10) ** -20 * series
        first_stated = (cap + 1) ** 2 * rho ** cap + mp.nsum(lambda k: k * rho ** (k - 1), [cap + 2, mp.inf])
        assert bias <= first_stated


def test_cap_bias_bounds_the_row_sums_of_the_capped_expectation():
    # exact expectation of capped gap-cut masks (blocks split into runs of B from their start)
    # by enumerating all 2^11 cut patterns: every row sum of P - Ptilde is below the bias
    n, slope, cap = 12, 0.3, 3
    ptilde = np.zeros((n, n))
    for pattern in range(1 << (n - 1)):
        cuts = [g for g in range(n - 1) if pattern >> g & 1]
        probability = (-math.expm1(-slope)) ** len(cuts) * math.exp(-slope) ** (n - 1 - len(cuts))
        ends = [-1, *cuts, n - 1]
        for a, b in zip(ends, ends[1:]):
            for start in range(a + 1, b + 1, cap):
                block = slice(start, min(start + cap, b + 1))
                ptilde[block, block] += probability
    deficit = (E.kms_matrix(n, slope) - ptilde).sum(axis=1)
    assert deficit.min() >= -1e-12  # capping only removes pairs (float sums of 2^11 terms)
    assert deficit.max() <= float(W.gap_cut_cap_bias(slope, cap))
