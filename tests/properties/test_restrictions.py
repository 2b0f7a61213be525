"""A declaration can say which combinations of its options a kernel does not support
("restrictions", kernels/spec.py): they are never drawn, a property that needs one is not
applicable with the reason, and the report names them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from attnspec.kernels.spec import KernelSpec, SpecError
from attnspec.properties import suites
from attnspec.properties.engine.suite import RunOptions
from attnspec.properties.loading import load_kernel

KERNELS = Path(__file__).parents[1] / "zoo" / "restricted_kernels.py"
QUICK = RunOptions("ci", ("attention",), max_examples=6, isolation="none")


@pytest.mark.parametrize("name", ["causal_square_only", "mask_or_causal"])
def test_a_declared_restriction_is_never_drawn(name):
    report = suites.run(load_kernel(f"{KERNELS}:{name}"), QUICK)
    failing = [f"{r.name}: {r.status} {r.reason} {r.counterexample and r.counterexample.detail}"
               for r in report.results if not r.ok]
    assert not failing, "\n".join(failing)
    assert any(n.startswith("declared restrictions, never drawn") for n in report.notes)


def test_a_property_that_needs_the_restricted_combination_says_so():
    options = replace(QUICK, properties=("causal_alignment_as_declared",))
    [alignment] = suites.run(load_kernel(f"{KERNELS}:causal_square_only"), options).results
    assert alignment.status == "not applicable" and "Lq == Lk" in alignment.reason


def test_undeclared_the_same_kernel_fails():
    options = RunOptions("ci", ("attention",), ("causal_alignment_as_declared",),
                         isolation="none")
    [result] = suites.run(load_kernel(f"{KERNELS}:causal_square_only_undeclared"),
                          options).results
    assert result.status == "VIOLATED" and "needs Lq == Lk" in result.counterexample.detail


def test_an_unknown_restriction_is_a_one_line_error():
    with pytest.raises(SpecError, match="'restrictions' has unsupported value"):
        KernelSpec.from_declaration({"dtypes": ["float32"], "restrictions": ["no_decode"]})
