"""Samplers of the random block partitions whose masks average to the ALiBi matrix (numpy).

Claims (docs/claims.md section 2; docs/positional-lsh.md):

- Random binning, the paper's scheme as the authors' code draws it [C] (positional_lsh.py,
  sample_hashes): per draw, with sigma = 1/slope, a width b ~ Gamma(shape 2, scale sigma), a shift
  xi ~ U(0, b) given b, and the bucket h(i) = floor((i - xi)/b) of position i. Two positions share
  a block iff they share a bucket: P(h(i) = h(j)) = E[(1 - |i-j|/b)_+] = e^(-slope |i-j|) [D].
  Every interior block of one draw holds floor(b) or ceil(b) positions.
- Gap cuts [D]: each of the n - 1 gaps between neighbouring positions is cut independently with
  probability 1 - e^(-slope); blocks are the maximal uncut runs, so P(i, j share a block) =
  e^(-slope |i-j|) (no cut among the |i-j| gaps between them).
- The code's fixed_block_size variant [C] (sample=False): b = 2 sigma (the mean of the width),
  xi = 0. Deterministic, so its error does not fall with the number of draws: a negative control.

Block ids: int64 [s, n], one row per draw, positions 0..n-1. Along a row the id starts at 0 and
grows by one at each block boundary (so ids are the 0-based index of the block; the code's raw
bucket numbers, which may start at -1 or skip empty buckets when b < 1, are relabelled). The
mask of a draw is M_ij = 1[id_i = id_j]: binary, symmetric, unit diagonal, positive
semidefinite (M = H H^T with H the one-hot block matrix) and contiguous.

Domain: n >= 1, slope >= 0 finite (slope 0: one block; the ALiBi matrix is all ones), s >= 1;
rng a numpy Generator. Sampling is in float64; which side of a bucket boundary a position falls
on is decided by float64 rounding of (i - xi)/b, a bias of order 2^-53 per draw.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse


def _check(n: int, slope: float, s: int = 1) -> None:
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if int(s) != s or s < 1:
        raise ValueError(f"s must be a positive integer, got {s!r}")
    if not (np.isfinite(slope) and slope >= 0):
        raise ValueError(f"slope must be finite and >= 0, got {slope!r}")


def _relabel(buckets: np.ndarray) -> np.ndarray:
    """Nondecreasing bucket numbers [s, n] -> 0-based block indices (+1 at each change)."""
    ids = np.zeros(buckets.shape, dtype=np.int64)
    np.cumsum(buckets[:, 1:] != buckets[:, :-1], axis=1, out=ids[:, 1:])
    return ids


def binning_draws(slope: float, s: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Widths b [s] ~ Gamma(shape 2, scale 1/slope) and shifts xi [s] ~ U(0, b) of s draws [C].

    slope 0 gives b = inf and xi = 0 (one bucket). The draws come from ``rng`` in this order:
    s widths, then s uniforms.
    """
    _check(1, slope, s)
    if slope == 0:
        return np.full(s, np.inf), np.zeros(s)
    widths = rng.gamma(2.0, 1.0 / slope, size=s)
    shifts = rng.random(s) * widths
    return widths, shifts


def binning_block_ids_from_draws(n: int, widths: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Block ids int64 [s, n] of bucket floor((i - xi)/b) for given widths and shifts [C]."""
    widths = np.asarray(widths, dtype=np.float64)
    shifts = np.asarray(shifts, dtype=np.float64)
    positions = np.arange(n, dtype=np.float64)
    finite = np.isfinite(widths)
    buckets = np.zeros((widths.size, n))
    buckets[finite] = np.floor((positions[None, :] - shifts[finite, None]) / widths[finite, None])
    return _relabel(buckets)


def binning_block_ids(n: int, slope: float, s: int, rng: np.random.Generator) -> np.ndarray:
    """The paper's random binning [C]: block ids int64 [s, n] of s independent draws.

    E[mask] = exp(-slope |i - j|) exactly (expectation.binning_collision_probability).
    """
    _check(n, slope, s)
    widths, shifts = binning_draws(slope, s, rng)
    return binning_block_ids_from_draws(n, widths, shifts)


def gap_cut_block_ids(n: int, slope: float, s: int, rng: np.random.Generator) -> np.ndarray:
    """Gap cuts [D]: block ids int64 [s, n]; each gap cut with probability 1 - e^(-slope).

    E[mask] = exp(-slope |i - j|) exactly (expectation.gap_cut_expected_mask_enumerated).
    """
    _check(n, slope, s)
    cut_probability = -np.expm1(-slope)
    cuts = rng.random((s, n - 1)) < cut_probability  # [s, n-1]
    ids = np.zeros((s, n), dtype=np.int64)
    np.cumsum(cuts, axis=1, out=ids[:, 1:])
    return ids


def fixed_block_ids(n: int, slope: float) -> np.ndarray:
    """The code's fixed_block_size variant [C]: b = 2/slope, xi = 0; block ids int64 [1, n].

    Deterministic: the mean of any number of its masks is its one mask, which is not the ALiBi
    matrix (a negative control for estimators whose error must fall with the number of draws).
    """
    _check(n, slope)
    if slope == 0:
        return np.zeros((1, n), dtype=np.int64)
    return binning_block_ids_from_draws(n, np.array([2.0 / slope]), np.array([0.0]))


def masks_from_block_ids(ids: np.ndarray) -> np.ndarray:
    """Binary masks float64 [s, n, n], M[k, i, j] = 1[ids[k, i] = ids[k, j]]."""
    ids = np.atleast_2d(np.asarray(ids))
    return (ids[:, :, None] == ids[:, None, :]).astype(np.float64)


def mean_mask(ids: np.ndarray) -> np.ndarray:
    """The empirical mean of the s masks, float64 [n, n], without forming [s, n, n].

    Mbar = (1/s) sum_k H_k H_k^T with H_k the one-hot [n, blocks] matrix of draw k: a sparse
    product costing sum_k sum_blocks size^2 (about s 1^T P 1) operations. Entries are k/s for an
    integer count k, exactly as the count divided by s in float64.
    """
    ids = np.atleast_2d(np.asarray(ids, dtype=np.int64))
    s, n = ids.shape
    offsets = np.concatenate([[0], np.cumsum(ids[:, -1] + 1)[:-1]])  # first column of each draw
    columns = (ids + offsets[:, None]).T.ravel()  # [n * s], row i's blocks in draw order
    rows = np.repeat(np.arange(n), s)
    one_hot = scipy.sparse.csr_matrix((np.ones(n * s), (rows, columns)),
                                      shape=(n, int(offsets[-1] + ids[-1, -1] + 1)))
    counts = (one_hot @ one_hot.T).toarray()
    return counts / s


def block_sizes(ids_row: np.ndarray) -> np.ndarray:
    """Sizes int64 [blocks] of the blocks of one draw (ids of one row, 0-based consecutive)."""
    return np.bincount(np.asarray(ids_row, dtype=np.int64))
