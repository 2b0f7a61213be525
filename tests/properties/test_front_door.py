"""One front door: the suites index, the shared options and their aliases, one report shape."""

from __future__ import annotations

import pytest

from attnspec.kernels.spec import KernelSpec
from attnspec.properties.attention import backward
from attnspec.properties import suites
from attnspec.properties.cli import _parser, main
from attnspec.properties.engine.render import render_report, report_data
from attnspec.properties.engine.suite import RunOptions
from attnspec.properties.loading import Subject, load_kernel
from attnspec.properties.options import OptionError, run_options


def options(**given):
    return run_options(lambda dest: given.get(dest))


def test_efforts_and_their_aliases():
    assert options().effort == "ci" and options().suites is None
    assert options(effort="thorough") == options(effort__size="long") == RunOptions("thorough")
    # --profile long keeps its old meaning: the long-context suite alone
    assert options(effort__profile="long") == RunOptions("thorough", ("long_contexts",))
    assert options(effort__profile="long", suite=["attention"]).suites == ("attention",)
    assert options(property__law=["critical_wmax_law"]).properties == ("critical_wmax_law",)


@pytest.mark.parametrize("given, message", [
    ({"effort": "huge"}, "unknown effort 'huge'"),
    ({"effort__size": "huge"}, "unknown size 'huge'"),
    ({"effort__profile": "extreme"}, "unknown profile 'extreme'"),
    ({"suite": ["nonsense"]}, "unknown suite 'nonsense'"),
    ({"property": ["made_up"]}, "unknown property 'made_up'"),
    ({"property__law": ["made_up"]}, "unknown law 'made_up'"),
    ({"call_timeout": 0.0}, "--call-timeout must be positive"),
])
def test_bad_options_say_which_flag_and_why(given, message):
    with pytest.raises(OptionError, match=message):
        options(**given)


def test_help_is_generated_from_every_suites_plans():
    text = _parser()._subparsers._group_actions[0].choices["check"].format_help()
    for word in ("quick", "ci", "thorough", "long_contexts", "scaling_limits", "'long'"):
        assert word in text, word


def test_gradients_are_checked_when_declared_and_not_applicable_otherwise():
    dense = load_kernel("reference-dense")
    forward_only = Subject("dense-forward-only", "dense", dense.fn,
                           KernelSpec(dtypes=("float32",)), ("cpu",), ())
    report = suites.run(forward_only, RunOptions("quick", ("gradients",), max_examples=2))
    assert {r.status for r in report.results} == {"not applicable"}
    assert all("backward=False" in r.reason for r in report.results)
    checked = suites.run(dense, RunOptions("quick", ("gradients",), max_examples=2))
    assert [r.name for r in checked.results] == list(backward.ORDER)
    assert all(r.status == "held" and r.examples == 2 for r in checked.results), \
        render_report(checked)


def test_a_backward_declared_for_an_absent_device_is_not_run_with_the_reason():
    dense = load_kernel("reference-dense")
    cuda_only = Subject("dense", "dense", dense.fn,
                        KernelSpec(dtypes=("float32",), devices=("cpu", "cuda"), backward=True,
                                   backward_devices=("cuda",)), ("cpu",), ("cuda",))
    report = suites.run(cuda_only, RunOptions("quick", ("gradients",), max_examples=2))
    statuses = {r.name: r.status for r in report.results}
    # the empty-row claim needs a mask or causal, which this declaration lacks
    assert statuses.pop("gradients_finite_on_empty_rows") == "not applicable"
    assert set(statuses.values()) == {"not run"}
    assert "declared for cuda only" in report.results[0].reason


def test_a_suite_without_a_plan_at_the_effort_is_named():
    report = suites.run(load_kernel("reference-dense"),
                        RunOptions("quick", ("attention", "long_contexts"), ("deterministic",),
                                   max_examples=2))
    assert [r.name for r in report.results] == ["deterministic"]
    assert report.notes == []  # no property of long_contexts was asked for
    report = suites.run(load_kernel("reference-dense"),
                        RunOptions("quick", ("attention", "long_contexts"), max_examples=2))
    assert any("suite long_contexts: not run at effort quick" in n for n in report.notes)


def test_properties_and_laws_share_one_report_shape():
    report = suites.run(load_kernel("reference-dense"),
                        RunOptions("quick", None, ("deterministic", "supercritical_one_minus_wmax"),
                                   max_examples=2))
    data = report_data(report, "test")
    rows = {r["suite"]: r for r in data["results"]}
    assert set(rows) == {"attention", "scaling_limits"}
    assert rows["attention"].keys() == rows["scaling_limits"].keys()
    assert rows["scaling_limits"]["false_alarm"] == 1e-6 and rows["scaling_limits"]["checks"]
    assert rows["attention"]["worst"]["case"]["dtype"] in ("float16", "bfloat16", "float32", "float64")


def test_laws_check_takes_the_shared_options(capsys):
    assert main(["laws", "check", "--effort", "huge"]) == 2
    assert "unknown effort 'huge'" in capsys.readouterr().err
