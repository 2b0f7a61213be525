"""Bugs past 128 keys, which ci missed before the cover: the cover's cells catch each in the
property that compares the values it breaks (the oracle comparison itself for a lost or
mis-masked tail tile, the determinism check for a race)."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnspec.properties import suites
from attnspec.properties.attention.cover import COVER
from attnspec.properties.engine.suite import RunOptions
from attnspec.properties.loading import load_kernel

ZOO_FILE = Path(__file__).with_name("buggy_kernels.py")
CELL_LENGTHS = {(c.q_len, c.kv_len) for c in COVER}


@pytest.mark.parametrize("name, prop", [
    ("drops_tail_tile_past_the_short_path", "output_matches_oracle"),
    ("unmasked_tail_padding", "output_matches_oracle"),
    ("nondeterministic_past_the_short_path", "deterministic"),
])
def test_a_cell_of_the_cover_catches_the_bug(name, prop):
    options = RunOptions("ci", ("attention",), (prop,), call_timeout=3.0)
    [result] = suites.run(load_kernel(f"{ZOO_FILE}:{name}"), options).results
    assert result.status == "VIOLATED", f"{name}: {result.status} {result.reason}"
    case = result.counterexample.data
    assert (case["q_len"], case["kv_len"]) in CELL_LENGTHS and case["kv_len"] > 128
