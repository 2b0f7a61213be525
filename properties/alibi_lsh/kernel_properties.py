"""Properties of the positional-LSH kernel (kernels/alibi_lsh), as checks of its outputs and masks.

Each check takes what the kernel produced (block ids, masks, outputs, certificates) and what the
oracles say (oracles/alibi_lsh: P, the spectral bounds; oracles/attention: exact attention) and
returns a ``Verdict``: the worst statistic against its threshold, held when statistic <= threshold.
Deterministic checks compare an error with a tolerance the caller derives (ratio <= 1);
statistical checks state their sample size and false-alarm rate alpha (Bonferroni split over
their tests, two-sided normal quantiles of properties/engine/statistics.py).

Claims (docs/claims.md section 2; docs/positional-lsh-kernel.md):

- mask_structure [P][D]: every sampled mask is binary, symmetric, has a unit diagonal, is
  contiguous (the ones of each row form one interval holding the diagonal), is PSD (M = H H^T,
  H one-hot) and, for the binning scheme, all interior blocks have one width (floor b or ceil b:
  sizes differ by at most 1).
- collision_frequencies [P][C]: P(i, j share a block) = e^(-m |i - j|); over s independent draws
  the count is Binomial(s, e^(-m|i-j|)) exactly, tested by z at alpha.
- spectral_error_sandwich [P][D]: the mean over R independent repetitions of ||Mbar - P||_2 lies
  between a lower bound falling like s^-1/2 (max over entries of the exact binomial mean absolute
  deviation E|K/s - P_ij|, since ||X||_2 >= max |X_ij|) and the paper's expectation bound
  Psi (sqrt(ln n / s) + ln n / s); so the error falls like s^-1/2, and a deterministic variant
  whose error is flat in s (the code's fixed-block masks) leaves the band at large s.
- spectral_tail [P]: the fraction of repetitions with ||Mbar - P||_2 >= eps is consistent with
  the paper's tail bound n exp(-s eps^2 / (4 Psi (4 Psi + eps))) (exact binomial tail at alpha).
- within_tolerance: error <= tolerance elementwise (blockwise == dense, no cut == plain
  attention, every cut == V row by row, the certificate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

from attnspec.properties.engine.statistics import z_threshold


@dataclass(frozen=True)
class Verdict:
    """``statistic`` against ``threshold``: held when statistic <= threshold (NaN never holds)."""

    name: str
    statistic: float
    threshold: float
    detail: str = ""

    @property
    def held(self) -> bool:
        return bool(self.statistic <= self.threshold)


def mask_structure(masks: np.ndarray, interior_one_width: bool) -> Verdict:
    """Structure of every mask of ``masks`` float64 [s, n, n]; the statistic counts the masks that
    break a rule (threshold 0). PSD is tested as lambda_min >= -8 n u ||M||_2 (the backward error
    of LAPACK's symmetric eigensolver, u = 2^-53, ||M||_2 <= n)."""
    masks = np.asarray(masks, dtype=np.float64)
    s, n, _ = masks.shape
    broken: dict[str, int] = {}

    def count(rule, bad):
        broken[rule] = broken.get(rule, 0) + int(bad)

    idx = np.arange(n)
    for m in masks:
        count("binary", not np.all((m == 0) | (m == 1)))
        count("symmetric", not np.array_equal(m, m.T))
        count("unit diagonal", not np.all(np.diag(m) == 1))
        ones = m == 1
        first = np.where(ones.any(1), ones.argmax(1), n)
        last = np.where(ones.any(1), n - 1 - ones[:, ::-1].argmax(1), -1)
        interval = (idx[None, :] >= first[:, None]) & (idx[None, :] <= last[:, None])
        count("contiguous", not (np.array_equal(interval, ones) and np.all(first <= idx) and np.all(idx <= last)))
        count("PSD", np.linalg.eigvalsh(m).min() < -8 * n * 2.0 ** -53 * n)
        if interior_one_width:
            # block sizes from the first row of each block
            starts = np.flatnonzero(np.r_[True, first[1:] != first[:-1]])
            sizes = np.diff(np.r_[starts, n])
            interior = sizes[1:-1]
            count("interior blocks of one width", interior.size > 0 and interior.max() - interior.min() > 1)
    total = sum(broken.values())
    detail = ", ".join(f"{rule}: {k} of {s}" for rule, k in broken.items() if k) or f"all {s} masks hold every rule"
    return Verdict("mask_structure", float(total), 0.0, detail)


def collision_frequencies(same_block: np.ndarray, expected: np.ndarray, alpha: float) -> Verdict:
    """same_block bool [s, pairs]: in draw t, do the two positions of pair k share a block;
    expected [pairs]: e^(-m |i - j|). Each column is s independent Bernoulli(expected) draws;
    statistic max_k |z_k|, threshold the normal quantile at alpha / (2 pairs)."""
    same_block = np.asarray(same_block, dtype=np.float64)
    s, pairs = same_block.shape
    p = np.asarray(expected, dtype=np.float64)
    sd = np.sqrt(p * (1 - p) / s)
    freq = same_block.mean(0)
    z = np.where(sd > 0, np.abs(freq - p) / np.where(sd > 0, sd, 1), np.where(freq == p, 0.0, np.inf))
    worst = int(np.argmax(z))
    return Verdict("collision_frequencies", float(z.max()), z_threshold(alpha, pairs),
                   f"s = {s} draws, {pairs} pairs, alpha = {alpha:g}; worst pair {worst}: "
                   f"frequency {freq[worst]:.5f} vs {p[worst]:.5f}")


def binomial_mean_abs_deviation(s: int, p: np.ndarray) -> np.ndarray:
    """E|K/s - p| for K ~ Binomial(s, p), exactly (a sum over the support), float64 [len(p)]."""
    k = np.arange(s + 1)
    p = np.atleast_1d(np.asarray(p, dtype=np.float64))
    pmf = binom.pmf(k[None, :], s, p[:, None])
    return (pmf * np.abs(k[None, :] / s - p[:, None])).sum(1)


def spectral_error_sandwich(errors: np.ndarray, lower: float, upper: float, alpha: float) -> Verdict:
    """errors float64 [R]: ||Mbar - P||_2 over R independent repetitions at one (n, m, s).

    Two one-sided z tests of the sample mean (alpha split in two): it must not lie significantly
    below ``lower`` nor above ``upper``. The statistic is the larger of the two z excesses
    (z of the mean below lower, z above upper); threshold the normal quantile at alpha / 2 tests.
    """
    errors = np.asarray(errors, dtype=np.float64)
    R = errors.size
    mean = errors.mean()
    se = errors.std(ddof=1) / math.sqrt(R) if R > 1 else math.inf
    se = max(se, 1e-300)
    z = max((lower - mean) / se, (mean - upper) / se)
    return Verdict("spectral_error_sandwich", float(z), z_threshold(alpha, 2),
                   f"mean ||Mbar - P||_2 {mean:.4g} +- {se:.2g} over R = {R}, band [{lower:.4g}, {upper:.4g}]")


def spectral_tail(errors: np.ndarray, eps: float, tail_bound: float, alpha: float) -> Verdict:
    """The count of repetitions with error >= eps against Binomial(R, min(1, tail_bound)): the
    statistic is -log10 of the exact upper-tail probability of the count, held while that
    probability is >= alpha (threshold -log10 alpha)."""
    errors = np.asarray(errors, dtype=np.float64)
    R = errors.size
    exceed = int((errors >= eps).sum())
    p = min(1.0, max(tail_bound, 0.0))
    tail = 1.0 if exceed == 0 else float(binom.sf(exceed - 1, R, p))
    statistic = math.inf if tail <= 0 else -math.log10(tail)
    return Verdict("spectral_tail", statistic, -math.log10(alpha),
                   f"{exceed} of R = {R} repetitions reach eps = {eps:.4g}; bound P <= {tail_bound:.3g}")


def within_tolerance(name: str, error: np.ndarray, tolerance: np.ndarray) -> Verdict:
    """max over elements of error / tolerance (0 / 0 = 0; x / 0 = inf; NaN error = inf); threshold 1."""
    error = np.asarray(error, dtype=np.float64)
    tolerance = np.broadcast_to(np.asarray(tolerance, dtype=np.float64), error.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(error == 0, 0.0, error / tolerance)
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    worst = float(ratio.max(initial=0.0))
    where = np.unravel_index(int(np.argmax(ratio)), ratio.shape) if ratio.size else ()
    return Verdict(name, worst, 1.0, f"worst error/tolerance {worst:.3g} at {tuple(int(i) for i in where)}")
