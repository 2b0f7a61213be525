"""A violation names another causal alignment only when that alignment explains the kernel
(issue: the hint once blamed the alignment for a kernel whose fault was its mask)."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnspec.properties import suites
from attnspec.properties.engine.suite import RunOptions
from attnspec.properties.loading import load_kernel

ZOO = Path(__file__).with_name("buggy_kernels.py")
ALIGNMENT = RunOptions("ci", ("attention",), ("causal_alignment_as_declared",), isolation="none")


@pytest.mark.parametrize("name, named", [
    ("causal_top_left_declared_bottom_right", True),  # the alignment is the fault: named
    ("mask_ignores_heads", False),  # the mask is (its shrunk case matched top_left by chance)
    ("reads_one_token_ahead", False),
])
def test_the_alignment_hint_names_only_an_alignment_that_explains_the_kernel(name, named):
    [result] = suites.run(load_kernel(f"{ZOO}:{name}"), ALIGNMENT).results
    assert result.status == "VIOLATED"
    hinted = "matches causal alignment 'top_left'" in result.counterexample.detail
    assert hinted == named, result.counterexample.detail
