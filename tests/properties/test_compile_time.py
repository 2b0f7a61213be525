"""A kernel that compiles per shape: first calls on a new input signature are timed apart from
the rest (attention/compile_time.py), and "compiled_per_shape" draws from a short list of
shapes that keeps the tile edges (attention/strategies.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from attnspec.kernels.spec import KernelSpec
from attnspec.properties.attention.compile_time import ShapeClock
from attnspec.properties.attention.profiles import CONTRACT_PLANS
from attnspec.properties.attention.strategies import EDGE_LENGTH_PAIRS, recipes


def test_first_calls_that_cost_far_more_than_repeats_are_named_as_compile_time():
    clock = ShapeClock()
    for i in range(20):
        clock.record(("shape", i), 2.0)  # a compile on each new shape
        clock.record(("shape", i), 0.001)
    line = clock.summary()
    assert "20 first calls on a new input signature took 40.0 s" in line
    assert "compiling?" in line and '"compiled_per_shape": True' in line


def test_an_ordinary_kernel_gets_its_timing_without_a_compile_hint():
    clock = ShapeClock()
    for i in range(50):
        clock.record(("shape", i), 0.002)
        clock.record(("shape", i), 0.0015)
    assert "compiling" not in clock.summary()
    assert ShapeClock().summary() is None


SPEC = KernelSpec(dtypes=("float32",), causal="bottom_right", gqa=True, compiled_per_shape=True)
LIMITS = CONTRACT_PLANS["ci"].limits


@settings(max_examples=300, derandomize=True, database=None)
@given(st.data())
def test_compiled_per_shape_draws_only_edge_shapes(data):
    r = data.draw(recipes(SPEC, "float32", LIMITS))
    assert (r.q_len, r.kv_len) in EDGE_LENGTH_PAIRS
    assert (r.batch, r.q_heads, r.kv_heads, r.head_dim, r.value_dim) == (2, 2, 1, 64, 64)
    assert r.layout == "contiguous"  # new strides recompile too


def test_the_edge_shapes_at_ci_cross_every_tile_edge_to_64():
    pairs = [p for p in EDGE_LENGTH_PAIRS if max(p) <= LIMITS.max_len]
    lengths = {n for p in pairs for n in p}
    assert {15, 16, 17, 31, 32, 33, 63, 64, 65} <= lengths, sorted(lengths)
    assert len(pairs) == 11 and (1, 65) in pairs  # a decode row past a 64-key tile
