"""The positional-LSH kernel against dense float64 references built here from its sampled ids.

The dense reference of the ratio estimator is softmax(S + log Mbar) V over the visible keys,
formed in float64 from the masks of ``sample_block_ids`` (the ids the kernel uses, exposed for
exactly this): a float64 kernel must agree with it to rounding. Tolerance: both sides are float64
softmax-weighted means of O(1) values over at most n = 64 keys; the rounding of either is below
n * 2^-53 * max|v| * (a few) ~ 1e-13 (Higham's gamma_n), so 1e-10 leaves three orders of margin.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from attnspec.kernels.alibi_lsh import (
    SCHEMES, masks_from_block_ids, positional_lsh_attention, sample_block_ids)
from attnspec.kernels.alibi_lsh.blockwise import blocks_attention
from attnspec.kernels.alibi_lsh.cost import block_entries, ones_p_ones, padded_entries
from attnspec.kernels.attention.alibi_slopes import alibi_slopes

FLOAT64_ROUNDING = 1e-10  # module docstring


def dense_ratio_estimator(q, k, v, ids, scale, causal, slopes=None):
    """float64 reference: out [B, Hq, Lq, Dv], lse [B, Hq, Lq] of sum_j A Mbar v / sum_j A Mbar,
    lse = log sum_j A_ij Mbar_ij, from ids int64[Hq, s, n] (None: plain attention); rows with
    an empty estimator (no causal, before the first key) are exact ALiBi rows of ``slopes``."""
    B, Hq, Lq, _ = q.shape
    Hk, Lk = k.shape[1], k.shape[2]
    n = max(Lq, Lk)
    kk = k.double().repeat_interleave(Hq // Hk, dim=1)
    vv = v.double().repeat_interleave(Hq // Hk, dim=1)
    s = scale * q.double() @ kk.transpose(-1, -2)  # [B, Hq, Lq, Lk]
    if ids is None:
        mbar = torch.ones((Hq, Lq, Lk), dtype=torch.float64)
    else:
        full = masks_from_block_ids(ids).mean(dim=1)  # [Hq, n, n]
        mbar = full[:, n - Lq:, n - Lk:]
    i = torch.arange(Lq)[:, None] + (Lk - Lq)
    j = torch.arange(Lk)[None, :]
    if causal:
        mbar = mbar * (j <= i)
    if slopes is not None and not causal:
        # rows before the first key with an empty estimator: the kernel computes them exactly
        alibi = torch.exp(-slopes.double()[:, None, None] * (i - j).abs())  # [Hq, Lq, Lk]
        mbar = torch.where((mbar.sum(-1) == 0)[..., None], alibi, mbar)
    logits = s + torch.log(mbar)  # log 0 = -inf
    lse = torch.logsumexp(logits, dim=-1)
    w = torch.exp(logits - lse[..., None].clamp_min(-1e300).nan_to_num(0.0))
    w = torch.where(torch.isfinite(lse)[..., None], w, torch.zeros_like(w))
    return w @ vv, lse


shapes = st.fixed_dictionaries({
    "B": st.integers(1, 2), "Hk": st.integers(1, 2), "group": st.integers(1, 2),
    "Lq": st.integers(1, 40), "Lk": st.integers(1, 40), "D": st.integers(1, 8), "Dv": st.integers(1, 8),
    "causal": st.booleans(), "scheme": st.sampled_from(SCHEMES), "samples": st.integers(1, 6),
    "seed": st.integers(0, 2**31 - 1), "slope_scale": st.sampled_from([0.05, 0.3, 1.0, 4.0]),
})


def _inputs(c, dtype=torch.float64, gen_seed=0):
    g = torch.Generator().manual_seed(gen_seed)
    Hq = c["Hk"] * c["group"]
    q = torch.randn((c["B"], Hq, c["Lq"], c["D"]), generator=g, dtype=dtype)
    k = torch.randn((c["B"], c["Hk"], c["Lk"], c["D"]), generator=g, dtype=dtype)
    v = torch.randn((c["B"], c["Hk"], c["Lk"], c["Dv"]), generator=g, dtype=dtype)
    slopes = alibi_slopes(Hq, dtype=torch.float64) * c["slope_scale"] * 8
    return q, k, v, slopes


@settings(max_examples=25, deadline=None, derandomize=True)
@given(shapes)
def test_blockwise_equals_dense_ratio_estimator(c):
    """Block-wise computation and log-sum-exp merge == the dense masked ratio estimator (out, lse)."""
    q, k, v, slopes = _inputs(c)
    scale = 1 / math.sqrt(c["D"])
    out, lse = positional_lsh_attention(q, k, v, causal=c["causal"], alibi_slopes=slopes, return_lse=True,
                                        samples=c["samples"], seed=c["seed"], scheme=c["scheme"])
    ids = sample_block_ids(max(c["Lq"], c["Lk"]), slopes, c["samples"], seed=c["seed"], scheme=c["scheme"])
    ref_out, ref_lse = dense_ratio_estimator(q, k, v, ids, scale, c["causal"], slopes)
    assert (out - ref_out).abs().max().item() <= FLOAT64_ROUNDING
    finite = torch.isfinite(ref_lse)
    assert torch.equal(finite, torch.isfinite(lse))
    assert (lse[finite] - ref_lse[finite]).abs().max().item() <= FLOAT64_ROUNDING if finite.any() else True


@settings(max_examples=15, deadline=None, derandomize=True)
@given(shapes)
def test_without_slopes_it_is_plain_attention(c):
    q, k, v, _ = _inputs(c)
    out, lse = positional_lsh_attention(q, k, v, causal=c["causal"], return_lse=True)
    ref_out, ref_lse = dense_ratio_estimator(q, k, v, None, 1 / math.sqrt(c["D"]), c["causal"])
    assert (out - ref_out).abs().max().item() <= FLOAT64_ROUNDING
    finite = torch.isfinite(ref_lse)
    assert torch.equal(finite, torch.isfinite(lse))


def test_small_tiles_give_the_same_result():
    """Tiling (rows and blocks per tile) changes only the grouping of the same float ops per row."""
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn((2, 70, 5), generator=g, dtype=torch.float64) for _ in range(3))
    for scheme in SCHEMES:
        ids = sample_block_ids(70, [0.05], 1, seed=4, scheme=scheme)[0, 0]
        big = blocks_attention(q, k, v, ids, scale=0.5, causal=True)
        small = blocks_attention(q, k, v, ids, scale=0.5, causal=True, tile_elements=16)
        for a, b in zip(big, small):
            assert (a - b).abs().max().item() <= FLOAT64_ROUNDING


def test_sampler_ids_are_contiguous_and_seeded():
    for scheme in SCHEMES:
        ids = sample_block_ids(500, [1.0, 0.1, 0.003], 7, seed=11, scheme=scheme)
        assert ids.shape == (3, 7, 500) and ids.dtype == torch.int64
        assert torch.all(ids[..., 0] == 0)
        steps = ids[..., 1:] - ids[..., :-1]
        assert torch.all((steps == 0) | (steps == 1))
        assert torch.equal(ids, sample_block_ids(500, [1.0, 0.1, 0.003], 7, seed=11, scheme=scheme))
        assert not torch.equal(ids, sample_block_ids(500, [1.0, 0.1, 0.003], 7, seed=12, scheme=scheme))


def test_contract_shapes_dtypes_determinism_and_inputs_unchanged():
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        q = torch.randn((1, 4, 9, 8), generator=g).to(dtype)
        kv = torch.randn((1, 2, 13, 16), generator=g).to(dtype)
        k, v = kv[..., :8], kv[..., 8:14]  # non-contiguous views
        before = [t.clone() for t in (q, k, v)]
        slopes = alibi_slopes(4)
        out, lse, cert = positional_lsh_attention(q, k, v, alibi_slopes=slopes, causal=True, return_lse=True,
                                                  return_certificate=True, samples=3, seed=5)
        assert out.shape == (1, 4, 9, 6) and out.dtype == dtype and out.device == q.device
        assert lse.shape == (1, 4, 9)
        assert set(cert) == {"out", "lse"} and cert["out"].shape == (1, 4, 9) and cert["lse"].shape == (1, 4, 9)
        again = positional_lsh_attention(q, k, v, alibi_slopes=slopes, causal=True, samples=3, seed=5)
        assert torch.equal(out, again)
        assert all(torch.equal(a, b) for a, b in zip(before, (q, k, v)))
    assert set(positional_lsh_attention(q, k, v, alibi_slopes=slopes, return_certificate=True)[1]) == {"out"}


def test_costs_padding_is_below_twice_the_block_entries():
    """Blocks of one size group differ in size by less than 2^(1/2), so padding each to the
    longest costs < 2 x its size^2 [D]."""
    for scheme in SCHEMES:
        ids = sample_block_ids(3000, [0.02], 20, seed=1, scheme=scheme)[0]
        assert torch.all(padded_entries(ids) < 2 * block_entries(ids))


def test_ones_p_ones_closed_form():
    n, m = 37, 0.3
    i = np.arange(n)
    assert ones_p_ones(n, m) == pytest.approx(np.exp(-m * np.abs(i[:, None] - i[None])).sum(), rel=1e-13)
