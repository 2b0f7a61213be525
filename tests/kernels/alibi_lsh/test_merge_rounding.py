"""The positional-LSH kernel's certificate covers its merge's own rounding: the draws' weights
e^(lse_t - lse) are rounded at the lse's magnitude, which a plain kernel's budget does not allow
for (positional_lsh.merge_rounding). Found by attnspec's own contract suite at quick: one key at
score 40 in float32 came back 1.19e-6 off, 3.8x the budget, and a float64 row at a score shift
of -2e4 774x."""

from __future__ import annotations

from dataclasses import replace

import pytest

from attnspec.properties.attention.recipe import Recipe
from attnspec.properties.attention.suite import reproduce
from attnspec.properties.loading import load_kernel

ONE_KEY = Recipe(q_len=1, kv_len=1, head_dim=1, value_dim=1, dtype="float32", score_shift=40.0,
                 alibi="canonical")


@pytest.mark.parametrize("recipe", [
    ONE_KEY,
    replace(ONE_KEY, dtype="float64", score_shift=-2.0e4, q_len=5, kv_len=9, head_dim=8,
            value_dim=8, seed=3),
    replace(ONE_KEY, score_shift=-200.0, q_len=3, kv_len=40, head_dim=4, value_dim=4,
            causal=True),
])
def test_the_merge_rounding_is_in_the_certificate(recipe):
    text, held = reproduce(load_kernel("positional-lsh"), "output_matches_oracle", recipe, "cpu")
    assert held, text
