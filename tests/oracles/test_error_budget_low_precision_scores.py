"""The forward budget holds beyond first order: low-precision scores at large magnitudes
(issue 14, item 3).

With ``"accumulation": "bfloat16"`` declared honestly, a score near 1e4 has an ulp of 64: one
rounding moves a weight by up to e^32. The first-order probabilistic budget was finite there and
wrong: a kernel that rounds each exact score once to bfloat16 (float16) and does everything else
exactly failed it by 22.6x on the ci search's case below and by 80x (27x in float16) on random
rows of logit scale 30 shifted by -2e4. The budget now carries the second-order remainder and
the normaliser's floor, and falls back to the values' range (the hull of the weights) where
even that is void (docs/error-budget.md, "Beyond first order"). Kernels:
tests/zoo/budget_kernels.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnspec.kernels.spec import KernelSpec
from attnspec.oracles.attention.error_budget import error_budget
from attnspec.oracles.attention.exact import exact_attention
from attnspec.properties.attention.cases import build_case
from attnspec.properties.attention.conformance import precision_model
from attnspec.properties.attention.recipe import Recipe
from attnspec.properties.attention.suite import reproduce
from attnspec.properties.loading import import_file, load_kernel

ZOO = Path(__file__).parents[1] / "zoo"
KERNELS_FILE = ZOO / "budget_kernels.py"
budget_kernels = import_file(str(KERNELS_FILE))
KERNELS = {"bfloat16": budget_kernels.bfloat16_scores_once,
           "float16": budget_kernels.float16_scores_once}


def _ratio(kernel, recipe: Recipe) -> tuple[float, float]:
    """Largest |kernel - exact| / budget in force over out and over lse (lse in float32)."""
    spec = KernelSpec.from_declaration(kernel.attnspec)
    case = build_case(recipe)
    out, lse = kernel(case.q, case.k, case.v, return_lse=True, **case.kwargs)
    problem = case.problem(spec.causal)
    exact = exact_attention(problem)
    budget = error_budget(problem, exact.out,
                          precision_model(spec, recipe.dtype, "float32"), exact_lse=exact.lse)
    rows = ~exact.empty  # rows with no visible key are their own claim
    with np.errstate(invalid="ignore"):  # -inf - -inf on those rows
        out_err = np.abs(out.to(torch.float64).numpy() - exact.out)[rows]
        lse_err = np.abs(lse.to(torch.float64).numpy() - exact.lse)[rows]
    for tensor in ("out", "lse"):
        assert not np.isnan(budget.in_force(tensor)).any()
    return (float((out_err / budget.in_force("out")[rows]).max(initial=0.0)),
            float((lse_err / budget.in_force("lse")[rows]).max(initial=0.0)))


# `attnspec check tests/zoo/budget_kernels.py:bfloat16_scores_once --effort ci`, shrunk: one
# query, two keys, scores near -2e4 (bfloat16 ulp 128 there). Failed at 22.6x.
ENGINE_CASE = Recipe(q_len=1, kv_len=2, head_dim=4, value_dim=4, dtype="bfloat16", seed=0,
                     logit_scale=30.0, score_shift=-2.0e4)


def test_bfloat16_scores_pass_the_case_the_budget_once_failed():
    out_ratio, lse_ratio = _ratio(KERNELS["bfloat16"], ENGINE_CASE)
    assert out_ratio <= 1 and lse_ratio <= 1, (out_ratio, lse_ratio)


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(dtype=st.sampled_from(["bfloat16", "float16"]),
       seed=st.integers(0, 2**32 - 1),
       logit_scale=st.sampled_from([1.0, 30.0, 300.0, 3000.0]),
       shift=st.sampled_from([0.0, 40.0, -200.0, -2.0e4]),
       head_dim=st.sampled_from([1, 2, 4, 16, 64]),
       kv_len=st.integers(1, 40),
       near_ties=st.booleans())
def test_scores_rounded_once_stay_inside_the_budget(dtype, seed, logit_scale, shift, head_dim,
                                                    kv_len, near_ties):
    # Scores up to ~1e4 (logit scale 3000) and near -2e4, near ties: where one rounding of a
    # score to 8 (11) bits moves weights by factors far from 1 and reorders close keys.
    recipe = Recipe(q_len=4, kv_len=kv_len, head_dim=head_dim, value_dim=3, dtype=dtype,
                    seed=seed, logit_scale=logit_scale, score_shift=shift, near_ties=near_ties)
    out_ratio, lse_ratio = _ratio(KERNELS[dtype], recipe)
    assert out_ratio <= 1 and lse_ratio <= 1, (out_ratio, lse_ratio)


# Cases of the ci search for bfloat16_scores_once (seed 6: out 0.275 against an argmax value
# -0.065 at beta 1927; seed 2: 0.303 against 0.0625 at beta 4790): at those betas the scores
# reach ~1e4-1e5, where a bfloat16 score is off by up to 32-256 and close keys swap. Measured
# against the first-order budget: 21x and 15.5x.
@pytest.mark.parametrize("seed", [6, 2])
def test_argmax_at_infinite_temperature_allows_for_the_declared_score_precision(seed):
    recipe = Recipe(batch=1, q_heads=4, kv_heads=2, q_len=5, kv_len=35, head_dim=24,
                    value_dim=24, dtype="bfloat16", seed=seed)
    selector = f"{KERNELS_FILE}:bfloat16_scores_once"
    text, held = reproduce(load_kernel(selector), "argmax_at_infinite_inverse_temperature",
                           recipe, "cpu", isolation="none")
    assert held, text
