"""A bfloat16 running output fails on a long row; correct kernels pass the same row.

One decode-shaped case with 16384 keys (the thorough profile draws such rows): exact values
from the tier-2 oracle, budgets as everywhere else.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from attnspec.properties.attention.forward import CATALOG, Context
from attnspec.properties.loading import import_file, load_kernel
from attnspec.properties.attention.profiles import PROFILES
from attnspec.properties.attention.recipe import Recipe

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


# ---------------------------------------------------------------------------------------------
# The "long" profile: contexts of 1e4..1e6 keys (sphere keys, geometric weights, sinks).


def _zoo_names(group: str) -> list[str]:
    return [fn.__name__ for fn in getattr(import_file(str(ZOO)), group)]


@pytest.mark.parametrize("name", _zoo_names("LONG_ROW_ZOO"))
def test_long_profile_catches_errors_that_grow_with_the_row(name):
    from attnspec.properties.engine.driver import run_check

    report = run_check(load_kernel(f"{ZOO}:{name}"), PROFILES["long"], fail_fast=True)
    assert report.violated and not report.errored


@pytest.mark.parametrize("selector", ["sdpa-math", "sdpa-flash-cpu"])
def test_long_profile_passes_correct_kernels_on_its_first_cases(selector):
    from attnspec.properties.engine.driver import run_check

    # The first two cases of the deterministic profile: a 1e6-key attention sink and 1e6 keys
    # on the sphere. The whole profile runs in the long-marked test below.
    report = run_check(load_kernel(selector), PROFILES["long"].with_examples(2))
    assert not report.violated and not report.errored, [r.status for r in report.results]


@pytest.mark.long
@pytest.mark.parametrize("selector", ["reference-dense", "reference-tiled", "reference-tiled-fa2",
                                      "sdpa", "sdpa-math", "sdpa-flash-cpu", "flex"])
def test_long_profile_passes_every_correct_builtin(selector):
    from attnspec.properties.engine.driver import run_check

    report = run_check(load_kernel(selector), PROFILES["long"])
    assert not report.violated and not report.errored, [
        (r.name, r.status, r.counterexample and r.counterexample.outcome.detail)
        for r in report.results]
