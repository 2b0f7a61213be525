"""A kernel's iterated attention on one-hot values against the oracle's stationary law."""

import pytest
import torch
from attnspec.kernels.attention.dense import dense_attention
from attnspec.kernels.registry import BUILTINS
from attnspec.properties.fast_slow.stationary import check_stationary_law
from hypothesis import given, settings
from hypothesis import strategies as st

KERNELS = {"reference-dense": dense_attention, "sdpa-math": BUILTINS["sdpa-math"].build()}


@pytest.mark.parametrize("name", list(KERNELS))
@given(st.integers(2, 10), st.integers(2, 8), st.floats(0.25, 2.0), st.integers(0, 2**16))
@settings(max_examples=8, deadline=None)
def test_iterated_attention_reaches_the_stationary_law(name, L, D, spread, seed):
    g = torch.Generator().manual_seed(seed)
    q, k = (spread * torch.randn(1, 1, L, D, generator=g, dtype=torch.float64) for _ in range(2))
    found = check_stationary_law(KERNELS[name], q, k)
    assert found.held, found


def test_a_wrong_scale_is_flagged():
    # negative control: scores scaled by 1.001 change pi by ~1e-4 here, 1e8 x the tolerance
    def off_scale(q, k, v, *, causal=False):
        return dense_attention(q, k, v, causal=causal, scale=1.001 / q.shape[-1] ** 0.5)

    g = torch.Generator().manual_seed(3)
    q, k = (torch.randn(1, 1, 6, 4, generator=g, dtype=torch.float64) for _ in range(2))
    assert check_stationary_law(dense_attention, q, k).held
    found = check_stationary_law(off_scale, q, k)
    assert not found.held and found.error > 1e3 * found.tolerance
