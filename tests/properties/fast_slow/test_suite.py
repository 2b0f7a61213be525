"""The fast_slow suite: holds on correct kernels (reference, SDPA through the invoker and its
worker process), flags a kernel that ignores causal and one with a wrong scale."""

from pathlib import Path

import pytest
from attnspec.properties import suites
from attnspec.properties.engine.results import HELD, NOT_APPLICABLE, VIOLATED
from attnspec.properties.engine.suite import RunOptions
from attnspec.properties.fast_slow.suite import FAST_SLOW, check_fast_slow
from attnspec.properties.loading import load_kernel

HERE = Path(__file__).parent / "suite_kernels.py"


def statuses(report):
    return {r.name: r.status for r in report.results if r.suite == "fast_slow"}


def test_ci_on_the_reference_holds():
    results = check_fast_slow(effort="ci")
    assert [r.status for r in results] == [HELD] * 3
    assert all(r.examples == 3 for r in results)


def test_sdpa_through_the_invoker_holds():
    report = suites.run(load_kernel("sdpa-math"), RunOptions("quick", ("fast_slow",)))
    assert statuses(report) == {name: HELD for name, _ in FAST_SLOW.claims()}


def test_a_kernel_that_ignores_causal_is_flagged():
    report = suites.run(load_kernel(f"{HERE}:ignores_causal"),
                        RunOptions("quick", ("fast_slow",), isolation="none"))
    found = statuses(report)
    assert found["coupled_layer_no_future_leak"] == VIOLATED
    assert found["attention_stationary_law"] == HELD  # non-causal attention is what it computes


def test_a_wrong_scale_is_flagged():
    report = suites.run(load_kernel(f"{HERE}:wrong_scale"),
                        RunOptions("quick", ("fast_slow",), isolation="none"))
    found = statuses(report)
    assert found["attention_stationary_law"] == VIOLATED
    assert found["coupled_layer_no_future_leak"] == HELD  # causal, only mis-scaled


def test_a_kernel_without_causal_gets_the_stationary_law_only():
    report = suites.run(load_kernel(f"{HERE}:no_causal"),
                        RunOptions("quick", ("fast_slow",), isolation="none"))
    found = statuses(report)
    assert found["coupled_layer_no_future_leak"] == NOT_APPLICABLE
    assert found["coupled_layer_gate_zero"] == NOT_APPLICABLE
    assert found["attention_stationary_law"] == HELD


@pytest.mark.long
def test_thorough_on_the_reference_holds():
    results = check_fast_slow(effort="thorough")
    assert [r.status for r in results] == [HELD] * 3
    assert [r.examples for r in results] == [6, 6, 12]
