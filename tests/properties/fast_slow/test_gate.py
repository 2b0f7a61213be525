"""The gate: zero gives the fast path bitwise, ignores the slow parameters, and has a gradient."""

import torch
from attnspec.kernels.fast_slow.layer import FastSlowLayer
from attnspec.kernels.registry import present_devices
from attnspec.properties.fast_slow.gate import check_gate
from hypothesis import given, settings
from hypothesis import strategies as st

DEVICE = present_devices()[-1]


@given(st.integers(1, 24), st.integers(1, 9), st.sampled_from(["float32", "float64"]),
       st.integers(0, 2**16))
@settings(max_examples=30, deadline=None)
def test_gate_zero_identity_and_gradient(T, P, dtype, seed):
    dtype = getattr(torch, dtype)
    torch.manual_seed(seed)
    layer = FastSlowLayer(8, 2, P, dtype=dtype, device=DEVICE)
    x = torch.randn(2, T, 8, dtype=dtype, device=DEVICE)
    found = check_gate(layer, x, seed)
    assert found.fast_only and found.ignores_slow
    assert abs(found.gradient - found.expected) <= found.tolerance
    if T >= P:  # some token reads a complete block: d out/d g = <w, slow> != 0
        assert found.gradient != 0
    else:  # every token reads the explicit zero
        assert found.gradient == 0 and found.expected == 0


def test_zero_gate_is_the_initial_value():
    assert FastSlowLayer(4, 1, 2).gate.item() == 0.0
