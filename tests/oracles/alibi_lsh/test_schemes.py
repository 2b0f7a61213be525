"""Samplers of the block partitions (schemes.py): structure of every mask, the code's widths, and
Monte Carlo collision frequencies against e^(-slope |i - j|)."""

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from attnspec.oracles.alibi_lsh import schemes as S

SCHEMES = {
    "binning": S.binning_block_ids,
    "gap_cut": S.gap_cut_block_ids,
    "fixed": lambda n, slope, s, rng: S.fixed_block_ids(n, slope),
}
slopes = st.one_of(st.just(0.0), st.floats(1e-4, 8.0))


@settings(max_examples=60, deadline=None)
@given(scheme=st.sampled_from(sorted(SCHEMES)), n=st.integers(1, 40), slope=slopes,
       s=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_block_ids_and_masks_are_structured(scheme, n, slope, s, seed):
    ids = SCHEMES[scheme](n, slope, s, np.random.default_rng(seed))
    assert ids.dtype == np.int64 and ids.shape[1] == n
    assert np.all(ids[:, 0] == 0)
    assert np.all(np.isin(np.diff(ids, axis=1), (0, 1)))  # nondecreasing, one id per block
    masks = S.masks_from_block_ids(ids)  # [s, n, n]
    assert set(np.unique(masks)) <= {0.0, 1.0}
    assert np.array_equal(masks, np.swapaxes(masks, 1, 2))
    assert np.all(np.diagonal(masks, axis1=1, axis2=2) == 1)
    # contiguous: M_ik = M_ij M_jk for i <= j <= k (a block holds everything between its ends)
    i, j, k = np.meshgrid(*(np.arange(n),) * 3, indexing="ij")
    chain = (i <= j) & (j <= k)
    assert np.all(masks[:, i, k][:, chain] == (masks[:, i, j] * masks[:, j, k])[:, chain])
    # PSD: M = H H^T; eigvalsh's backward error is a few n u ||M||_2 <= n^2 u (bound 8 n^2 u)
    assert np.linalg.eigvalsh(masks).min() >= -8 * n * n * 2.0**-53
    assert np.array_equal(S.mean_mask(ids), masks.mean(axis=0))
    sizes = S.block_sizes(ids[0])
    assert sizes.sum() == n and sizes.min() >= 1


def test_slope_zero_is_one_block():
    for scheme in SCHEMES.values():
        assert np.all(scheme(17, 0.0, 3, np.random.default_rng(0)) == 0)


@settings(max_examples=40, deadline=None)
@given(slope=st.floats(0.05, 3.0), seed=st.integers(0, 2**32 - 1))
def test_binning_interior_blocks_hold_floor_or_ceil_of_the_width(slope, seed):
    # [C]: all interior blocks of one draw have width b, so floor(b) or ceil(b) positions
    n = 200
    widths, shifts = S.binning_draws(slope, 8, np.random.default_rng(seed))
    ids = S.binning_block_ids_from_draws(n, widths, shifts)
    for b, row in zip(widths, ids):
        sizes = S.block_sizes(row)[1:-1]  # the first and last blocks are cut by the ends
        assert np.all((sizes == np.floor(b)) | (sizes == np.ceil(b)))


def test_binning_draws_are_the_samplers_draws():
    widths, shifts = S.binning_draws(0.3, 6, np.random.default_rng(5))
    assert np.array_equal(S.binning_block_ids(50, 0.3, 6, np.random.default_rng(5)),
                          S.binning_block_ids_from_draws(50, widths, shifts))
    assert np.all((0 <= shifts) & (shifts < widths))


@pytest.mark.parametrize("slope", [0.5, 0.125, 1 / 48])
def test_fixed_variant_has_blocks_of_two_sigma(slope):
    ids = S.fixed_block_ids(300, slope)
    sizes = S.block_sizes(ids[0])[:-1]  # the last block is cut by the end
    assert np.all(np.isin(sizes, (np.floor(2 / slope), np.ceil(2 / slope))))
    assert np.array_equal(ids, S.fixed_block_ids(300, slope))  # deterministic


DISTANCES = (0, 1, 2, 3, 5, 8, 13, 21, 34, 55)
FALSE_ALARM = 1e-6  # per test, split over the distances (Bonferroni)


def collision_counts(ids: np.ndarray, i: int) -> np.ndarray:
    """How many of the s draws put positions i and i + d in one block, for each d in DISTANCES."""
    return np.array([(ids[:, i] == ids[:, i + d]).sum() for d in DISTANCES])


def binomial_outliers(counts, s, slope):
    """Distances whose count falls outside the two-sided Binomial(s, e^(-slope d)) acceptance
    interval at FALSE_ALARM / len(DISTANCES) (exact binomial quantiles)."""
    p = np.exp(-slope * np.array(DISTANCES))
    a = FALSE_ALARM / (2 * len(DISTANCES))
    low = scipy.stats.binom.ppf(a, s, p)
    high = scipy.stats.binom.isf(a, s, p)
    return [d for d, c, lo, hi in zip(DISTANCES, counts, low, high) if not lo <= c <= hi]


@pytest.mark.parametrize("scheme", ["binning", "gap_cut"])
@pytest.mark.parametrize("slope", [0.5, 1 / 16])
def test_collision_frequencies_match_alibi(scheme, slope):
    # s = 20 000 draws: the acceptance interval's half-width at p = 1/2 is ~0.017 (5.3 sigma)
    s, i = 20_000, 7
    ids = SCHEMES[scheme](i + max(DISTANCES) + 4, slope, s, np.random.default_rng(11))
    assert binomial_outliers(collision_counts(ids, i), s, slope) == []


def test_collision_test_catches_exponential_widths():
    # negative control: width ~ Exp(scale sigma) (shape 1, not 2) gives P(collide) =
    # e^(-d/sigma) - (d/sigma) E1(d/sigma), 0.22 below e^(-d/sigma) at d = sigma; the test must see it
    slope, s = 1 / 16, 20_000
    rng = np.random.default_rng(12)
    widths = rng.exponential(1 / slope, size=s)
    ids = S.binning_block_ids_from_draws(80, widths, rng.random(s) * widths)
    assert len(binomial_outliers(collision_counts(ids, 7), s, slope)) >= 5


@pytest.mark.long
@pytest.mark.parametrize("scheme", ["binning", "gap_cut"])
@pytest.mark.parametrize("slope", [1.0, 0.25, 1 / 64])
def test_collision_frequencies_match_alibi_large_sample(scheme, slope):
    # s = 10^6 draws: the acceptance half-width at p = 1/2 is ~0.0026
    s, i = 1_000_000, 3
    ids = SCHEMES[scheme](i + max(DISTANCES) + 1, slope, s, np.random.default_rng(13))
    assert binomial_outliers(collision_counts(ids, i), s, slope) == []
