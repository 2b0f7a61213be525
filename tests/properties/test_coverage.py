"""docs/coverage.md is what a ci run draws, and every property keeps the cover's promise: each
tile edge as a key and a query length, decode rows of hundreds of keys, every dtype about
equally, masks that differ by batch and head, negative and zero scales."""

from __future__ import annotations

from collections import Counter

import pytest

from attnspec.kernels.spec import DTYPES
from attnspec.properties.attention import coverage
from attnspec.properties.attention.cover import TILE_EDGES_COVERED


@pytest.fixture(scope="module")
def cases():
    return {name: [r for _, r in drawn] for name, drawn in coverage.cover_cases("ci").items()}


def test_docs_coverage_is_the_generated_table():
    doc = coverage.DOC.read_text()
    assert coverage.spliced(doc, coverage.generated()) == doc, (
        "docs/coverage.md is stale: run python -m attnspec.properties.attention.coverage --write")


def test_every_property_of_both_suites_is_in_the_table(cases):
    from attnspec.properties.attention.suite import CONTRACT, GRADIENTS

    assert set(cases) == {p.name for s in (CONTRACT, GRADIENTS) for p in s.properties}


def test_every_property_draws_every_tile_edge_as_a_key_and_a_query_length(cases):
    for name, recipes in cases.items():
        assert {r.kv_len for r in recipes} >= set(TILE_EDGES_COVERED), name
        assert {r.q_len for r in recipes} >= set(TILE_EDGES_COVERED), name


# Where a property's claim pins a feature, its draw overrides the cell (the reason is the claim)
DECODE_EXEMPT = {"option_sensitivity": "Lq >= 3, so that a causal mask changes some row"}
NEGATIVE_SCALE_EXEMPT = {"uniform_average_at_zero_temperature": "scale = 0 is its claim"}
ZERO_SCALE_EXEMPT = {"score_shift_invariance": "a zero scale cannot carry a score shift",
                     "uniform_average_at_zero_temperature": "every case has scale = 0"}


def test_every_property_draws_decode_rows_of_hundreds_of_keys(cases):
    for name, recipes in cases.items():
        if name not in DECODE_EXEMPT:
            assert max(r.kv_len for r in recipes if r.q_len <= 2) >= 500, name


def test_every_dtype_is_drawn_about_equally(cases):
    for name, recipes in cases.items():
        counts = Counter(r.dtype for r in recipes)
        assert max(counts[d] for d in DTYPES) - min(counts[d] for d in DTYPES) <= 1, name


def test_masks_differ_by_batch_and_head_and_scales_are_negative_and_zero(cases):
    for name, recipes in cases.items():
        assert any(r.mask_density is not None and r.mask_broadcast == "full" and r.batch > 1
                   and r.q_heads > 1 for r in recipes), name
        if name not in NEGATIVE_SCALE_EXEMPT:
            assert any(r.scale is not None and r.scale < 0 for r in recipes), name
        if name not in ZERO_SCALE_EXEMPT:
            assert any(r.scale == 0 for r in recipes), name
