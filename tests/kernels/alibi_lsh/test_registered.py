"""The built-in ``positional-lsh`` under attnspec's contract suite: an approximate kernel held to
its own certificate plus the rounding budget (kernels/spec.py "approximation"), exact rules
(shapes, dtypes, inputs unchanged, determinism, no future leak) exactly. A false alarm here is a
defect of the kernel's certificate or of attnspec. Long-marked: the first 10 ci cases of the 17
properties took 38 s on the shared 2-core machine (16 draws per head, per-head Python loops),
past the wing's default-run budget."""

import pytest

from attnspec.properties import suites
from attnspec.properties.engine.suite import RunOptions
from attnspec.properties.loading import load_kernel


def _failures(report):
    return [f"{r.name}: {r.status} {r.reason} {r.counterexample and r.counterexample.detail}"
            for r in report.results if not r.ok]


@pytest.mark.long
def test_positional_lsh_passes_the_first_ci_cases():
    report = suites.run(load_kernel("positional-lsh"), RunOptions("ci", ("attention",), max_examples=10))
    assert not _failures(report), "\n".join(_failures(report))


@pytest.mark.long
def test_positional_lsh_passes_every_property_at_ci():
    report = suites.run(load_kernel("positional-lsh"), RunOptions("ci", ("attention",)))
    assert not _failures(report), "\n".join(_failures(report))
