"""The laws on users' attention kernels: built-in kernels hold, mutant kernels fail.

A kernel under the contract is fed exactly sampled unit keys around a random unit query with
scale = beta; W_max, 1 - W_max and the output are read through the values, S and the IPR through
the LSE (sources.KernelSource). The kernel ci plans use n up to 1e5 (critical W_max at d = 3,
subcritical output at d = 3). Mutant kernels below are small wrappers of the dense reference that
keep its declaration: one ignores ``scale`` (uses 1/sqrt(D)), one attends only to its first 4096
keys (a silent context cap), one rounds q and k to bfloat16 before the product (then float64
arithmetic).
"""

from __future__ import annotations

import pytest
import torch

from attnspec.kernels.attention.dense import make_dense_kernel
from attnspec.properties.scaling_limits import (CriticalCase, KernelSource, Plan, SubcriticalCase, check_laws,
                                      critical_ipr_and_normaliser, critical_wmax_law,
                                      selectivity_threshold_scaling, subcritical_output_moments)
from attnspec.properties.loading import Subject, load_kernel

_dense = make_dense_kernel(torch.float64)


def _mutant(fn):
    fn.attnspec = dict(_dense.attnspec)
    return fn


@_mutant
def ignores_scale(q, k, v, *, scale=None, **kw):
    return _dense(q, k, v, **kw)


@_mutant
def first_4096_keys(q, k, v, **kw):
    return _dense(q, k[:, :, :4096], v[:, :, :4096], **kw)


@_mutant
def bfloat16_scores(q, k, v, **kw):
    return _dense(q.to(torch.bfloat16).to(q.dtype), k.to(torch.bfloat16).to(k.dtype), v, **kw)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="module")
def reference_dense_report():
    return check_laws(KernelSource(load_kernel("reference-dense")), "ci")


def test_reference_dense_holds_every_law(reference_dense_report):
    results = reference_dense_report
    assert all(v.numbers["source"].startswith("reference-dense (float64") for v in results)
    statuses = {v.name: v.status for v in results}
    assert set(statuses.values()) == {"held"}, "\n".join(f"{v.name}: {v.status} {v.reason}"
                                                        for v in results)
    crit = next(v for v in results if v.name == "critical_wmax_law")
    assert max(row["n"] for row in crit.numbers["cases"]) == 100_000


def test_sdpa_math_holds_and_says_why_lse_laws_do_not_apply():
    source = KernelSource(load_kernel("sdpa-math"))
    results = check_laws(source, "ci", ["critical_wmax_law", "subcritical_output_moments",
                                        "critical_ipr_and_normaliser"])
    statuses = {v.name: v.status for v in results}
    assert statuses == {"critical_wmax_law": "held", "subcritical_output_moments": "held",
                        "critical_ipr_and_normaliser": "not applicable"}, results
    assert "lse" in next(v for v in results if v.name == "critical_ipr_and_normaliser").reason


SMALL = Plan((CriticalCase(3, 1.0, 20_000, 200),), seed=21)


@pytest.mark.parametrize("mutant", [ignores_scale, first_4096_keys, bfloat16_scores],
                         ids=lambda f: f.__name__)
def test_mutant_kernels_fail_the_critical_law(mutant):
    # d = 3, gamma = 1, n = 2e4, 200 contexts. bfloat16 q and k move each score by ~beta 2^-9 ~ 40
    # at beta = 2e4: measured E W_max 0.21 against 0.73
    source = KernelSource(load_kernel(f"{__file__}:{mutant.__name__}"))
    verdict = critical_wmax_law.check(source, plan=SMALL)
    assert verdict.status == "VIOLATED"
    assert any(c.kind == "ks" and not c.held for c in verdict.checks)


def test_a_kernel_that_ignores_scale_fails_the_threshold_law_without_an_error():
    # Its W_max does not move with beta, so the fitted line is flat and its root (beta_half) is
    # off the float range: a violation, never "attnspec itself failed" (it was, before).
    source = KernelSource(load_kernel(f"{__file__}:ignores_scale"))
    verdict = selectivity_threshold_scaling.check(source, "ci")
    assert verdict.status == "VIOLATED", verdict.reason
    assert any(c.kind == "z" and not c.held for c in verdict.checks)


def test_a_context_cap_fails_the_subcritical_law():
    # d = 3, beta = 50, n = 2e4, 100 contexts: attending to 4096 of the keys multiplies the
    # variances by ~5 (measured z = 7.2 and 8.0) while the mean stays put.
    # (bfloat16_scores passes this law: the rounding noise averages out over the ~n/beta keys that
    # carry the weight; with 1000 contexts only the tangent mean moves, z = -3.98.)
    source = KernelSource(load_kernel(f"{__file__}:first_4096_keys"))
    plan = Plan((SubcriticalCase(3, 50.0, 20_000, 100),), seed=22)
    verdict = subcritical_output_moments.check(source, plan=plan)
    assert verdict.status == "VIOLATED", [c.describe() for c in verdict.checks]
    assert next(c for c in verdict.checks if "E<q,y>" in c.name).held


def test_a_kernel_that_raises_is_a_violation_with_its_reason():
    @_mutant
    def broken(q, k, v, **kw):
        raise RuntimeError("out of shared memory")

    dense = load_kernel("reference-dense")
    subject = Subject(selector="broken", name="broken", fn=broken, spec=dense.spec,
                      devices=("cpu",), absent_devices=())
    verdict = critical_ipr_and_normaliser.check(KernelSource(subject), plan=SMALL)
    assert verdict.status == "VIOLATED" and "out of shared memory" in verdict.reason


def test_kernel_source_pads_head_dims_the_kernel_requires():
    subject = load_kernel("reference-dense")
    from dataclasses import replace

    subject = replace(subject, spec=replace(subject.spec, head_dim_multiple=8, dv_equals_d=True))
    source = KernelSource(subject)
    assert source._dims(3) == (8, 8)
    draws = source.draw(1000, 1000.0, d=3, contexts=4, seed=1, need=("w_max", "output"))
    reference = KernelSource(load_kernel("reference-dense")).draw(1000, 1000.0, d=3, contexts=4,
                                                                  seed=1, need=("w_max", "output"))
    assert torch.allclose(torch.from_numpy(draws.w_max), torch.from_numpy(reference.w_max), rtol=1e-12)
    assert torch.allclose(torch.from_numpy(draws.output), torch.from_numpy(reference.output), atol=1e-14)


@pytest.mark.long
def test_reference_dense_holds_every_law_at_thorough_effort():
    results = check_laws(KernelSource(load_kernel("reference-dense")), "thorough")
    assert all(v.status == "held" for v in results), [(v.name, v.reason) for v in results]
