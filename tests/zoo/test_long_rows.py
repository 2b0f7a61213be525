"""A bfloat16 running output fails on a long row; correct kernels pass the same row.

One decode-shaped case with 16384 keys (the thorough profile draws such rows): exact values
from the tier-2 oracle, budgets as everywhere else.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from attnspec.properties.claims import CATALOG, Context
from attnspec.properties.loading import load_kernel
from attnspec.properties.profiles import PROFILES
from attnspec.properties.recipe import Recipe

ZOO = Path(__file__).with_name("buggy_kernels.py")
LONG_ROW = Recipe(q_len=2, kv_len=16384, head_dim=64, value_dim=64, dtype="bfloat16", seed=7)


def ratio(selector: str) -> float:
    ctx = Context(load_kernel(selector), PROFILES["thorough"])
    return CATALOG["output_matches_oracle"].check(ctx, LONG_ROW, "cpu").ratio


def test_bf16_running_output_fails_on_a_long_row():
    assert ratio(f"{ZOO}:bf16_kernel_bf16_running_output") > 1


@pytest.mark.parametrize("selector", ["reference-tiled-fa2", "sdpa-flash-cpu", "reference-dense"])
def test_correct_kernels_pass_the_same_row(selector):
    assert ratio(selector) <= 1
