"""The kernel's certificate pieces against session A's dense oracles (oracles/alibi_lsh).

kappa_parts computes sum Mbar, sum P and sum |Mbar - P| per row in closed form (O(s log s) a
row); the oracle sums the dense [Lq, Lk] matrices. Tolerance: each sum has at most Lk <= 60
float64 terms of size <= 1, and the closed form's geometric sums subtract O(1/(1 - rho)) terms;
with 1 - rho >= 1 - e^-0.01 ~ 0.01 the absolute rounding is below 1e3 x 60 x 2^-53 ~ 1e-11,
so 1e-9 (absolute, on quantities >= 1 for sum Mbar) has a margin of 100.
"""

import math

import numpy as np
from hypothesis import given, settings, strategies as st

from attnspec.kernels.alibi_lsh import SCHEMES, masks_from_block_ids, sample_block_ids
from attnspec.kernels.alibi_lsh.certificate import kappa_parts, score_range_bound, value_diameter
from attnspec.oracles.alibi_lsh.certificate import certificate_kappa, score_range
from attnspec.oracles.alibi_lsh.certificate import value_diameter as oracle_value_diameter
from attnspec.oracles.alibi_lsh.expectation import alibi_expectation

import torch

CLOSED_FORM_ROUNDING = 1e-9  # module docstring


def _visible(Lq, Lk, causal):
    i = np.arange(Lq)[:, None] + (Lk - Lq)
    j = np.arange(Lk)[None, :]
    return (j <= i) if causal else np.ones((Lq, Lk), dtype=bool)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(1, 60), st.integers(1, 60), st.booleans(), st.sampled_from(SCHEMES),
       st.integers(1, 9), st.sampled_from([0.01, 0.1, 0.7, 3.0]), st.integers(0, 1000))
def test_kappa_parts_equal_the_dense_sums(Lq, Lk, causal, scheme, samples, slope, seed):
    n = max(Lq, Lk)
    ids = sample_block_ids(n, [slope], samples, seed=seed, scheme=scheme)[0]
    sum_mbar, sum_p, sum_abs = (x.numpy() for x in kappa_parts(ids, slope, Lq, Lk, causal))
    visible = _visible(Lq, Lk, causal)
    mbar = masks_from_block_ids(ids).mean(0).numpy()[n - Lq:, n - Lk:] * visible
    p = alibi_expectation(Lq, Lk, slope, "bottom_right" if causal else None)
    assert np.abs(sum_mbar - mbar.sum(1)).max() <= CLOSED_FORM_ROUNDING
    assert np.abs(sum_p - p.sum(1)).max() <= CLOSED_FORM_ROUNDING
    assert np.abs(sum_abs - np.abs(mbar - p).sum(1)).max() <= CLOSED_FORM_ROUNDING
    kappa = np.where(sum_mbar > 0, sum_abs / np.where(sum_mbar > 0, sum_mbar, 1), 0.0)
    oracle = certificate_kappa(mbar, p)
    finite = np.isfinite(oracle)
    assert np.all(sum_mbar[~finite] == 0)
    assert np.abs(kappa[finite] - oracle[finite]).max(initial=0) <= CLOSED_FORM_ROUNDING


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(1, 30), st.integers(1, 30), st.integers(1, 6), st.booleans(),
       st.floats(0.01, 30.0), st.integers(0, 1000))
def test_score_range_bound_and_value_diameter(Lq, Lk, D, causal, spread, seed):
    """The score-range bound is >= the exact range (oracle); the value diameter is exact."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn((1, Lq, D), generator=g, dtype=torch.float64) * spread
    k = torch.randn((1, Lk, D), generator=g, dtype=torch.float64) * spread
    v = torch.randn((1, Lk, 3), generator=g, dtype=torch.float64) * spread
    scale = 1 / math.sqrt(D)
    visible = _visible(Lq, Lk, causal)
    scores = scale * (q[0] @ k[0].T).numpy()
    exact = score_range(scores, visible)
    bound = score_range_bound(q, k, scale, causal)[0].numpy()
    # the bound and the exact range are float64 evaluations of O(D) terms of size |q||k|
    rounding = 1e-12 * (1 + np.abs(scores).max())
    rows = visible.any(1)
    assert np.all(bound[rows] >= exact[rows] - rounding)
    diam = value_diameter(v[0:1], Lq, causal)[0].numpy()
    assert np.array_equal(diam[rows], oracle_value_diameter(v[0].numpy(), visible)[rows])
