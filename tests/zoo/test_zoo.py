"""attnspec check catches every kernel in the zoo, and passes the zoo's own controls.

Run at the ci profile's sizes and determinism (derandomized hypothesis: the same cases in every
run) with a short per-call timeout for the hanging kernel. ``fail_fast`` stops a buggy kernel's
run at its first violation; the controls run every property.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from attnspec.properties import suites
from attnspec.properties.loading import import_file, load_kernel
from attnspec.properties.engine.suite import RunOptions

ZOO_FILE = Path(__file__).with_name("buggy_kernels.py")
# The contract suite at ci, with 3 s per call: the slowest correct call in the zoo takes well
# under 0.1 s at ci sizes.
CI = RunOptions("ci", ("attention",), call_timeout=3.0)


def _names(group: str) -> list[str]:
    return [fn.__name__ for fn in getattr(import_file(str(ZOO_FILE)), group)]


@pytest.mark.parametrize("name", _names("ZOO"))
def test_check_catches_the_bug(name):
    subject = load_kernel(f"{ZOO_FILE}:{name}")
    report = suites.run(subject, replace(CI, fail_fast=True))
    caught = [r for r in report.results if r.status == "VIOLATED"]
    assert caught, f"{name} passed every property:\n" + "\n".join(
        f"{r.name}: {r.status} {r.reason}" for r in report.results)
    assert not report.errored


@pytest.mark.parametrize("name", _names("CONTROLS"))
def test_controls_pass_every_property(name):
    report = suites.run(load_kernel(f"{ZOO_FILE}:{name}"), CI)
    bad = [f"{r.name}: {r.status} {r.reason} {r.counterexample and r.counterexample.detail}"
           for r in report.results if not r.ok]
    assert not bad, "\n".join(bad)


# The backward zoo: correct forwards, one bug each in the backward; the gradients suite at ci.
BACKWARD_FILE = Path(__file__).with_name("buggy_backward_kernels.py")
GRADIENTS_CI = RunOptions("ci", ("gradients",), call_timeout=3.0)


def _backward_names(group: str) -> list[str]:
    return [fn.__name__ for fn in getattr(import_file(str(BACKWARD_FILE)), group)]


@pytest.mark.parametrize("name", _backward_names("BACKWARD_ZOO"))
def test_check_catches_the_backward_bug(name):
    report = suites.run(load_kernel(f"{BACKWARD_FILE}:{name}"),
                        replace(GRADIENTS_CI, fail_fast=True))
    caught = [r for r in report.results if r.status == "VIOLATED"]
    assert caught, f"{name} passed every backward property:\n" + "\n".join(
        f"{r.name}: {r.status} {r.reason}" for r in report.results)
    assert not report.errored


@pytest.mark.parametrize("name", _backward_names("CONTROLS_BACKWARD"))
def test_backward_controls_pass_every_property(name):
    report = suites.run(load_kernel(f"{BACKWARD_FILE}:{name}"), GRADIENTS_CI)
    bad = [f"{r.name}: {r.status} {r.reason} {r.counterexample and r.counterexample.detail}"
           for r in report.results if not r.ok]
    assert not bad, "\n".join(bad)
