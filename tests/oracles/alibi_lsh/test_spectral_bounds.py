"""The paper's spectral bounds and the project's Hoeffding and matrix-Bernstein thresholds
(spectral_bounds.py), held by Monte Carlo at stated sample sizes and false-alarm rates."""

import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from attnspec.oracles.alibi_lsh import expectation as E
from attnspec.oracles.alibi_lsh import schemes as S
from attnspec.oracles.alibi_lsh import spectral_bounds as B

FALSE_ALARM = 1e-6
SAMPLERS = {"binning": S.binning_block_ids, "gap_cut": S.gap_cut_block_ids}


@settings(max_examples=100, deadline=None)
@given(sigma=st.floats(0.05, 1e4))
def test_psi_is_the_codes_form(sigma):
    # theory_validation.py writes 1 + sigma + (e^(1/sigma) + 1)/(e^(1/sigma) - 1) [C]
    e = math.exp(1 / sigma)
    code = 1 + sigma + (e + 1) / (e - 1)
    assert abs(B.psi_sigma(sigma) - code) <= 1e-12 * code


@settings(max_examples=100, deadline=None)
@given(sigma=st.floats(0.1, 1e3), n=st.integers(2, 10**6), s=st.integers(1, 10**6),
       delta=st.floats(1e-9, 0.9))
def test_thresholds_invert_their_tails(sigma, n, s, delta):
    eps = B.paper_tail_threshold(sigma, n, s, delta)
    assert abs(B.paper_tail_bound(sigma, n, s, eps) - delta) <= 1e-9 * delta
    slope, cap = 1 / sigma, max(1, int(3 * sigma))
    t = B.matrix_bernstein_threshold(n, s, slope, cap, delta)
    assert abs(B.matrix_bernstein_tail(n, s, slope, cap, t) - delta) <= 1e-9 * delta
    t = B.hoeffding_max_norm_threshold(n, s, delta)
    assert abs(n * (n - 1) * math.exp(-2 * s * t * t) - delta) <= 1e-9 * delta


def errors(scheme, n, sigma, s, repeats, seed):
    """(spectral, max-norm) distances of the mean of s masks from P, for `repeats` independent sets."""
    rng = np.random.default_rng(seed)
    p = E.kms_matrix(n, 1 / sigma)
    out = []
    for _ in range(repeats):
        mbar = S.mean_mask(SAMPLERS[scheme](n, 1 / sigma, s, rng))
        out.append((B.spectral_distance(mbar, p), np.abs(mbar - p).max()))
    return np.array(out).T


@pytest.mark.parametrize("scheme", ["binning", "gap_cut"])
@pytest.mark.parametrize("sigma,s", [(2, 16), (16, 256)])
def test_mean_error_below_the_papers_expectation_bound(scheme, sigma, s):
    # 8 independent sets of s masks at n = 128; the mean is held to the bound by a one-sided
    # Student t test at 1e-6 (measured: the mean is 0.15-0.27 of the bound). The bound is the
    # paper's for its binning; gap cuts (the same E[M], geometric blocks) are held to it too.
    n, repeats = 128, 8
    spectral, _ = errors(scheme, n, sigma, s, repeats, seed=41)
    upper = spectral.mean() - scipy.stats.t.isf(FALSE_ALARM, repeats - 1) * spectral.std(ddof=1) / math.sqrt(repeats)
    assert upper <= B.paper_expectation_bound(sigma, n, s)


@pytest.mark.parametrize("sigma", [2, 16])
def test_fixed_variant_breaks_the_expectation_bound(sigma):
    # negative control [C]: the code's fixed blocks are deterministic, so the mean of any number of
    # them is one mask; at s = 10^4 its error is ~20x the paper's bound
    n = 128
    error = B.spectral_distance(S.mean_mask(S.fixed_block_ids(n, 1 / sigma)), E.kms_matrix(n, 1 / sigma))
    assert error > 10 * B.paper_expectation_bound(sigma, n, 10_000)


@pytest.mark.parametrize("scheme", ["binning", "gap_cut"])
def test_tail_thresholds_hold(scheme):
    # 30 sets of s = 64 masks at n = 128, sigma = 8; each threshold at level delta = 0.1 may be
    # exceeded in at most binom.isf(1e-6, 30, 0.1) of them. The paper's tail bound is held for
    # the paper's binning; the Bernstein threshold (capped gap cuts) for gap cuts; Hoeffding for both.
    n, sigma, s, repeats, delta = 128, 8, 64, 30, 0.1
    spectral, max_norm = errors(scheme, n, sigma, s, repeats, seed=42)
    allowed = scipy.stats.binom.isf(FALSE_ALARM, repeats, delta)
    assert (max_norm >= B.hoeffding_max_norm_threshold(n, s, delta)).sum() <= allowed
    if scheme == "binning":
        assert (spectral >= B.paper_tail_threshold(sigma, n, s, delta)).sum() <= allowed
    else:
        assert (spectral >= B.gap_cut_spectral_threshold(n, s, 1 / sigma, delta)).sum() <= allowed


@pytest.mark.long
@pytest.mark.parametrize("scheme", ["binning", "gap_cut"])
@pytest.mark.parametrize("sigma", [2, 16, 64])
def test_papers_bounds_at_n512(scheme, sigma):
    # n = 512 as in docs/positional-lsh.md: 20 sets per s in {10, 100, 1000}; one-sided t test at
    # 1e-6 for the mean, binomial at 1e-6 for the tail threshold at delta = 0.05
    n, repeats, delta = 512, 20, 0.05
    for s in (10, 100, 1000):
        spectral, max_norm = errors(scheme, n, sigma, s, repeats, seed=43 + s)
        t = scipy.stats.t.isf(FALSE_ALARM, repeats - 1)
        assert spectral.mean() - t * spectral.std(ddof=1) / math.sqrt(repeats) <= B.paper_expectation_bound(sigma, n, s)
        allowed = scipy.stats.binom.isf(FALSE_ALARM, repeats, delta)
        assert (spectral >= B.paper_tail_threshold(sigma, n, s, delta)).sum() <= allowed
        assert (max_norm >= B.hoeffding_max_norm_threshold(n, s, delta)).sum() <= allowed
