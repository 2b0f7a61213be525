"""The positional-LSH identity as a check of a kernel (properties/alibi_lsh/identity.py, suite.py).

Correct kernels hold it (the reference kernels, SDPA, FlexAttention), the zoo's ALiBi bugs and
its per-head mask bug are VIOLATED, and the suite applies only to kernels that declare alibi and
mask. The default run checks small cases (512 keys, 32 masks per head: the certificate is
~0.2-0.35 of diam(V) there, the bugs move the output by 0.6-0.95 of it); the long run checks the
suite's ci plan (2048-4096 keys, 64 masks) on every correct built-in and every bug.
"""

from __future__ import annotations

from pathlib import Path

import mpmath
import numpy as np
import pytest
import torch

from attnspec.oracles.attention.float64 import attention64
from attnspec.oracles.attention.problem import AttentionProblem
from attnspec.properties import suites
from attnspec.properties.alibi_lsh.identity import (NAME, IdentityCase, build_inputs,
                                                    check_identity, identity_certificate,
                                                    lse64_error)
from attnspec.properties.alibi_lsh.suite import ALIBI_LSH, CI, plan
from attnspec.properties.engine.results import HELD, NOT_APPLICABLE, VIOLATED
from attnspec.properties.engine.suite import RunOptions
from attnspec.properties.loading import load_kernel

ZOO = Path(__file__).parents[2] / "zoo"
BUGS = ["alibi_slopes_reversed", "alibi_sign_flipped", "alibi_without_offset",
        "mask_ignores_heads"]
SMALL = [  # the default run's cases: decode rows and causal rows, both schemes, GQA
    IdentityCase(kv_len=512, q_len=1, q_heads=2, kv_heads=1, samples=32, seed=5),
    IdentityCase(kv_len=512, q_len=2, q_heads=2, kv_heads=2, samples=32, seed=6, causal=True,
                 dtype="bfloat16", scheme="gap_cut"),
]


def bug(name: str):
    return load_kernel(f"{ZOO / 'buggy_kernels.py'}:{name}")


@pytest.mark.parametrize("selector, case", [("reference-dense", SMALL[0]), ("sdpa", SMALL[1])])
def test_correct_kernels_hold_the_identity(selector, case):
    checked = check_identity(load_kernel(selector), case, "cpu", 60)
    # the certificate is a theorem for the masks drawn: a correct kernel is well inside it
    assert checked.outcome.ratio < 0.5, checked.outcome.detail
    assert 0.1 < checked.certificate_median < 0.4  # the size the docs quote for 32 masks


@pytest.mark.parametrize("name, case", [(BUGS[0], SMALL[0]), (BUGS[1], SMALL[1]),
                                        (BUGS[2], SMALL[0]), (BUGS[3], SMALL[1])])
def test_the_zoos_alibi_and_mask_bugs_break_the_identity(name, case):
    checked = check_identity(bug(name), case, "cpu", 60)
    assert checked.outcome.ratio > 2, checked.outcome.detail  # measured 2.7-5.7


def test_an_approximate_kernel_is_held_to_its_own_certificates():
    honest = load_kernel(f"{ZOO / 'approximate_kernels.py'}:honest_certificate")
    assert check_identity(honest, SMALL[0], "cpu", 60).outcome.ratio <= 1


def test_masks_are_per_head_blocks_around_each_rows_position():
    case = IdentityCase(kv_len=64, q_len=3, q_heads=2, kv_heads=1, samples=5, causal=True)
    inputs = build_inputs(case, "cpu")
    masks = inputs.masks  # [s, Hq, Lq, Lk]
    positions = np.arange(3) + 64 - 3
    assert masks[:, :, np.arange(3), positions].all()  # each row sees its own key position
    assert not masks[..., positions[0] + 1:][:, :, 0].any()  # causal inside the blocks
    assert not np.array_equal(masks[:, 0], masks[:, 1])  # each head draws its own blocks
    contiguous = np.abs(np.diff(masks.astype(int), axis=-1)).sum(-1) <= 2
    assert contiguous.all()  # one block: at most one rise and one fall along the keys
    assert (inputs.q.abs().sum() > 0) and inputs.slopes.dtype == torch.float32


def test_the_certificate_is_small_only_for_a_small_score_range():
    small = IdentityCase(kv_len=256, q_len=1, samples=16, score_bound=0.05)
    large = IdentityCase(kv_len=256, q_len=1, samples=16, score_bound=2.0)
    bounds = [identity_certificate(build_inputs(c, "cpu"), 1 / 4) for c in (small, large)]
    # e^R with R <= 2 score_bound: the same masks, a factor up to e^(4 - 0.1) apart
    assert (bounds[1] > bounds[0]).all() and (bounds[1] / bounds[0]).max() <= np.exp(3.9) * 1.01


def test_the_suite_applies_to_alibi_and_mask_and_plans_every_effort():
    assert set(ALIBI_LSH.efforts()) == {"quick", "ci", "thorough"}
    assert plan("ci") == plan("ci") == CI  # fixed seeds at ci
    assert plan("quick", 7) == plan("quick", 7) != plan("quick", 8)  # --seed repeats a run
    assert [c.seed for c in plan("ci", 7)] != [c.seed for c in CI]
    assert any(s is ALIBI_LSH for s in suites.SUITES)
    no_mask = load_kernel("reference-dense", spec={"dtypes": ["float32"], "alibi": True,
                                                   "lse": True})
    report = suites.run(no_mask, RunOptions("ci", ("alibi_lsh",)))
    (row,) = report.results
    assert row.name == NAME and row.status == NOT_APPLICABLE and "mask" in row.reason


@pytest.mark.long
@pytest.mark.parametrize("selector", ["reference-dense", "reference-dense-top-left",
                                      "reference-tiled", "reference-tiled-fa2", "sdpa",
                                      "sdpa-math", "flex"])
def test_correct_builtins_hold_the_identity_at_ci(selector):
    report = suites.run(load_kernel(selector), RunOptions("ci", ("alibi_lsh",)))
    (row,) = report.results
    assert row.status == HELD and row.worst.ratio < 0.5, (row.worst.detail, row.reason)


@pytest.mark.long
@pytest.mark.parametrize("name", BUGS)
def test_the_zoos_bugs_are_violated_at_ci(name):
    report = suites.run(bug(name), RunOptions("ci", ("alibi_lsh",), isolation="none"))
    (row,) = report.results
    assert row.status == VIOLATED and row.counterexample.ratio > 2


def test_the_float64_weights_rounding_bound_holds_against_mpmath():
    # the no-lse path merges with attention64's lse; lse64_error must bound its rounding
    rng = np.random.default_rng(3)
    q, k = rng.standard_normal((1, 2, 3, 8)) * 3, rng.standard_normal((1, 1, 300, 8)) * 3
    mask = rng.random((1, 2, 3, 300)) < 0.5
    problem = AttentionProblem.build(q, k, rng.random((1, 1, 300, 4)), mask=mask)
    _, lse64, _ = attention64(problem)
    bound = lse64_error(problem, lse64)
    with mpmath.workdps(40):
        for h in range(2):
            for i in range(3):
                terms = [mpmath.exp(mpmath.fsum(mpmath.mpf(a) * mpmath.mpf(b)
                                                for a, b in zip(q[0, h, i], k[0, 0, j]))
                                    / mpmath.sqrt(8)) for j in range(300) if mask[0, h, i, j]]
                exact = mpmath.log(mpmath.fsum(terms))
                assert abs(float(lse64[0, h, i] - exact)) <= bound[0, h, i] < 1e-11
