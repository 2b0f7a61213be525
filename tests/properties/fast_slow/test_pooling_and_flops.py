"""Pooling against exact means; the FLOP counter against the formulas and FlopCounterMode."""

import pytest
import torch
from attnspec.kernels.fast_slow.layer import FastSlowLayer
from attnspec.kernels.fast_slow.pooling import block_mean
from attnspec.properties.fast_slow.flops import check_flops
from attnspec.properties.fast_slow.pooling import pooling_ratio
from hypothesis import given, settings
from hypothesis import strategies as st


@given(st.integers(1, 30), st.integers(1, 12), st.sampled_from(["float32", "float64"]),
       st.floats(1e-3, 1e3), st.integers(0, 2**16))
@settings(max_examples=25, deadline=None)
def test_pooling_within_its_rounding_bound(T, P, dtype, scale, seed):
    g = torch.Generator().manual_seed(seed)
    x = scale * torch.randn(2, T, 3, generator=g, dtype=getattr(torch, dtype))
    assert pooling_ratio(x, P) <= 1


@pytest.mark.parametrize("P", [1, 2, 4, 8, 16])
def test_pooling_exact_on_exactly_representable_means(P):
    x = torch.randint(-1000, 1000, (1, 5 * P + 1, 4)).float()
    assert pooling_ratio(x, P) == 0
    exact = torch.stack([x[:, b * P:(b + 1) * P].double().sum(1) / P for b in range(x.shape[1] // P)], 1)
    assert torch.equal(block_mean(x, P).double(), exact)


@pytest.mark.parametrize("T,P,d,H", [(16, 4, 8, 2), (60, 6, 12, 3), (64, 8, 16, 4), (35, 5, 4, 1)])
def test_flop_ratios_as_counted(T, P, d, H):
    layer = FastSlowLayer(d, H, P)
    found = check_flops(layer, torch.randn(2, T, d))
    assert found.counter_matches_formulas
    assert found.ratios and found.ratios_hold, found.ratios
    assert found.measured_matmul == found.counted_matmul


@pytest.mark.parametrize("T,P", [(3, 4), (14, 4), (23, 5)])
def test_flops_when_p_does_not_divide_t(T, P):
    found = check_flops(FastSlowLayer(8, 2, P), torch.randn(1, T, 8))
    assert found.counter_matches_formulas
    assert found.measured_matmul == found.counted_matmul
