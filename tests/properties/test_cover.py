"""The cover (properties/attention/cover.py): planned cells that every ci and thorough search
checks first, fitted to what each kernel declares; and the driver's way of running them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from attnspec.kernels.spec import KernelSpec
from attnspec.properties.attention.cover import (COVER, TILE_EDGES_COVERED, Cell, cell_dtype,
                                                 cell_options, cell_shape)
from attnspec.properties.attention.profiles import CONTRACT_PLANS, GRADIENT_PLANS
from attnspec.properties.engine.driver import run_property
from attnspec.properties.engine.property import HOLDS, Outcome, Property, always

EVERYTHING = KernelSpec(dtypes=("float16", "bfloat16", "float32", "float64"),
                        causal="bottom_right", alibi=True, mask=True, gqa=True, window=True,
                        softcap=True, lse=True)


def test_every_tile_edge_is_a_query_and_a_key_length_of_some_cell():
    assert {c.q_len for c in COVER} >= set(TILE_EDGES_COVERED)
    assert {c.kv_len for c in COVER} >= set(TILE_EDGES_COVERED)
    for t in (16, 32, 64, 128):  # t - 1, t, t + 1, 2t - 1, 2t + 1
        assert {t - 1, t, t + 1, 2 * t - 1, 2 * t + 1} <= set(TILE_EDGES_COVERED)


def test_the_cover_plans_decode_rows_masks_by_batch_and_head_and_odd_scales():
    assert max(c.kv_len for c in COVER if c.q_len == 1) >= 500
    assert any(c.mask == "full" and c.batch > 1 and c.q_heads > 1 for c in COVER)
    assert {-0.7, 0.0} <= {c.scale for c in COVER}
    assert len({c.variant for c in COVER}) == len(COVER)  # each cell its own transform


def test_ci_and_thorough_search_the_cover_and_quick_does_not():
    for plans in (CONTRACT_PLANS, GRADIENT_PLANS):
        assert plans["ci"].cover == COVER and plans["thorough"].cover == COVER
        assert plans["quick"].cover == ()


@pytest.mark.parametrize("dtypes", [("float32",), ("float16", "float64"),
                                    ("float16", "bfloat16", "float32", "float64")])
def test_each_declared_dtype_gets_its_share_of_the_cells(dtypes):
    spec = KernelSpec(dtypes=dtypes)
    counts = [sum(cell_dtype(spec, i) == d for i in range(len(COVER))) for d in dtypes]
    assert max(counts) - min(counts) <= 1 and sum(counts) == len(COVER)


def test_a_cell_draws_only_what_the_kernel_declares():
    plain = KernelSpec(dtypes=("float32",), scale=False)
    for cell in COVER:
        shape = cell_shape(cell, plain, 72)
        assert shape["q_heads"] == shape["kv_heads"]  # no gqa declared
        assert cell_options(cell, plain).keys() <= {"layout", "variant"}
    gqa = cell_shape(Cell(4, 4, q_heads=4, group=2), EVERYTHING, 72)
    assert (gqa["q_heads"], gqa["kv_heads"]) == (4, 2)
    pinned = cell_options(Cell(4, 4, causal=True, mask="heads", scale=-0.7), EVERYTHING)
    assert pinned["causal"] and pinned["mask_broadcast"] == "heads" and pinned["scale"] == -0.7


def test_head_dims_are_fitted_to_the_declaration():
    narrow = KernelSpec(dtypes=("float32",), head_dim_multiple=16, max_head_dim=64,
                        dv_equals_d=True)
    for cell in COVER:
        shape = cell_shape(cell, narrow, 72)
        assert shape["head_dim"] == shape["value_dim"]
        assert narrow.supports_head_dim(shape["head_dim"])
    assert cell_shape(Cell(4, 4, head_dim=24), narrow, 72)["head_dim"] == 16


def test_a_kernel_that_compiles_per_shape_gets_one_batch_head_and_dim_and_contiguous_tensors():
    compiled = replace(EVERYTHING, compiled_per_shape=True)
    shapes = {tuple(sorted(cell_shape(c, compiled, 72).items())) for c in COVER}
    assert {tuple((k, v) for k, v in s if k not in ("q_len", "kv_len")) for s in shapes} == {
        (("batch", 2), ("head_dim", 64), ("kv_heads", 1), ("q_heads", 2), ("value_dim", 64))}
    assert {cell_options(c, compiled)["layout"] for c in COVER} == {"contiguous"}


# ---------------------------------------------------------------------------------------------
# The driver runs each cell as a search of one case, before the random search.

class _Stub:
    """A subject-free context whose cases are (cell label or "random", draw index)."""

    declaration = None

    def __init__(self, cells, failing=()):
        self.cells, self.failing, self.checked = cells, failing, []

    def unable(self):
        return None

    def cover(self, prop):
        return self.cells

    def draw_case(self, prop, draw, cell=None):
        from hypothesis import strategies as st

        return ("random" if cell is None else cell), draw(st.integers(0, 10))

    def case_key(self, case):
        return case

    def check_case(self, prop, case):
        self.checked.append(case)
        return Outcome(2.0, "bad") if case[0] in self.failing else HOLDS

    def finding(self, prop, case, outcome):
        return case


class _Plan:
    max_examples, derandomize, shrink_calls = 5, True, 10


PROP = Property("p", "claim", always, None, None)


def test_each_cell_is_one_case_checked_before_the_random_search():
    ctx = _Stub(("a", "b", "c"))
    result = run_property(PROP, ctx, _Plan())
    assert result.status == "held" and result.examples == 3 + 5
    assert [c for c, _ in ctx.checked[:3]] == ["a", "b", "c"]
    assert {c for c, _ in ctx.checked[3:]} == {"random"}
    assert all(i == 0 for _, i in ctx.checked[:3])  # hypothesis's simplest case in each cell


def test_a_violation_in_a_cell_ends_the_run_with_that_cell_as_the_counterexample():
    ctx = _Stub(("a", "b", "c"), failing=("b",))
    result = run_property(PROP, ctx, _Plan())
    assert result.status == "VIOLATED" and result.counterexample == ("b", 0)
    assert "c" not in [c for c, _ in ctx.checked] and "random" not in [c for c, _ in ctx.checked]
