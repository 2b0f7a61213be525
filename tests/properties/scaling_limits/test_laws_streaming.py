"""Every law holds on the streaming Monte Carlo kernel at its ci size, and rejects a mutant.

The runs are seeded (the plan's seed), so they are deterministic; each law's false-alarm rate is
1e-6 (split over its tests). Mutants are small wrappers around ``random_context_stats`` with its
signature: a wrong critical exponent, a kernel that silently drops half the keys, a
length-dependent temperature (scale multiplied by log n / log 1000), and a kernel that divides the
inverse temperature by sqrt(d) (the other common normalisation). Mutant runs use the plans below
(stated sizes, smaller than ci where the effect is large), so the file stays within its time budget.
"""

from __future__ import annotations

import math

import pytest
import torch

from attnspec.kernels.scaling_limits import random_context_stats
from attnspec.properties.scaling_limits import (LAWS, CriticalCase, Plan, ScalingCase, StreamingSource,
                                      SubcriticalCase, SupercriticalCase, critical_ipr_and_normaliser,
                                      critical_wmax_law, finite_input_temperature_laws,
                                      selectivity_threshold_scaling, subcritical_output_moments,
                                      supercritical_one_minus_wmax)

STATISTICAL = [law for law in LAWS if law is not finite_input_temperature_laws]


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.mark.parametrize("law", STATISTICAL, ids=lambda law: law.name)
def test_law_holds_on_the_streaming_kernel_at_ci_size(law):
    verdict = law.check(StreamingSource())
    assert verdict.status == "held", verdict.reason + "\n" + "\n".join(c.describe() for c in verdict.checks)
    assert verdict.false_alarm <= 1e-6 and verdict.seed is not None and verdict.examples >= 500
    assert verdict.checks and all(c.held for c in verdict.checks)
    # statistical tests state their sample size; the worst one is what the table shows
    assert all(c.samples >= 200 for c in verdict.checks if c.kind in ("z", "ks"))
    assert verdict.worst.ratio < 1


def test_a_law_is_deterministic_under_its_plan_seed():
    plan = Plan((SupercriticalCase(3, 64.0, 2000, 2000, True),), seed=8100)
    a = supercritical_one_minus_wmax.check(StreamingSource(), plan=plan)
    b = supercritical_one_minus_wmax.check(StreamingSource(), plan=plan)
    assert [c.measured for c in a.checks] == [c.measured for c in b.checks]
    assert a.numbers == b.numbers


def test_finite_input_laws_are_not_applicable_to_the_streaming_kernel():
    verdict = finite_input_temperature_laws.check(StreamingSource())
    assert verdict.status == "not applicable" and "--kernel" in verdict.reason


# ------------------------------------------------------------------------------ mutants

def _source(transform, name):
    """A mutant of the streaming kernel: ``transform(n, beta, d) -> (n', beta')``."""
    def stats(n, beta, *, d, **kw):
        n2, beta2 = transform(n, beta, d)
        return random_context_stats(n2, beta2, d=d, **kw)
    return StreamingSource(stats, name=name)


WRONG_EXPONENT = _source(lambda n, beta, d: (n, beta * n ** (-1.0 / (d - 1))),
                         "beta = gamma n^(1/(d-1))")
HALF_THE_KEYS = _source(lambda n, beta, d: (n // 2, beta), "drops half the keys")
LOG_N_TEMPERATURE = _source(lambda n, beta, d: (n, beta * math.log(n) / math.log(1000)),
                            "scale x log n / log 1000")
SQRT_D_TEMPERATURE = _source(lambda n, beta, d: (n, beta / math.sqrt(d)), "scale / sqrt(d)")


def _rejected(law, source, plan=None, effort="ci"):
    verdict = law.check(source, effort, plan)
    assert verdict.status == "VIOLATED", "\n".join(c.describe() for c in verdict.checks)
    return verdict


def test_critical_wmax_law_rejects_a_wrong_critical_exponent():
    # d = 3 and 8, n = 1e4, 500 contexts each: W_max collapses toward 1/n
    plan = Plan((CriticalCase(3, 1.0, 10_000, 500), CriticalCase(8, 4.895, 10_000, 500)), seed=11)
    v = _rejected(critical_wmax_law, WRONG_EXPONENT, plan)
    assert {c.kind for c in v.checks if not c.held} >= {"ks", "z"}
    assert max(c.statistic for c in v.checks if c.kind == "ks") > 0.5


def test_critical_ipr_and_normaliser_rejects_a_kernel_that_drops_half_the_keys():
    # d = 3, gamma = 0.4, n = 1e4, 1000 contexts: E S halves (1.25 -> 0.625)
    plan = Plan((CriticalCase(3, 0.4, 10_000, 1000),), seed=12)
    v = _rejected(critical_ipr_and_normaliser, HALF_THE_KEYS, plan)
    assert not next(c for c in v.checks if "E S" in c.name).held


def test_threshold_scaling_rejects_a_length_dependent_temperature():
    # beta multiplied by log n / log 1000 shifts the slope by about 1/log n (~0.12): d = 3,
    # n = 1e3, 3162, 1e4, 5 gammas x 200 contexts
    plan = Plan((ScalingCase(3, (1000, 3162, 10_000), 200),), seed=13)
    v = _rejected(selectivity_threshold_scaling, LOG_N_TEMPERATURE, plan)
    slope = next(c for c in v.checks if c.kind == "z")
    assert slope.measured < slope.reference - 0.05  # beta_half grows more slowly


def test_threshold_scaling_rejects_a_wrong_critical_exponent():
    # the design brackets the exact root; the mutant's W_max is far below 1/2 on the whole
    # design (beta too small by n^(1/(d-1))), so the fitted root and slope are far off
    plan = Plan((ScalingCase(3, (1000, 3162, 10_000), 200),), seed=14)
    v = _rejected(selectivity_threshold_scaling, WRONG_EXPONENT, plan)
    slope = next(c for c in v.checks if c.kind == "z")
    assert slope.statistic > 10 * slope.threshold


def test_subcritical_output_moments_reject_a_kernel_that_drops_half_the_keys():
    # d = 8, beta = 10, n = 1e4, 300 contexts: the variances double
    plan = Plan((SubcriticalCase(8, 10.0, 10_000, 300),), seed=15)
    v = _rejected(subcritical_output_moments, HALF_THE_KEYS, plan)
    assert not next(c for c in v.checks if "tangent variance" in c.name).held


def test_supercritical_rejects_a_temperature_divided_by_sqrt_d():
    # d = 3, gamma = 64, n = 2e3, 10000 contexts (the ci case): E[1 - W_max] grows by sqrt(3)
    plan = Plan(supercritical_one_minus_wmax.plans["ci"].cases[:1], seed=16)
    _rejected(supercritical_one_minus_wmax, SQRT_D_TEMPERATURE, plan)


# ------------------------------------------------------------------------------ long profile

@pytest.mark.long
@pytest.mark.parametrize("law", STATISTICAL, ids=lambda law: law.name)
def test_law_holds_on_the_streaming_kernel_at_thorough_effort(law):
    verdict = law.check(StreamingSource(), "thorough")
    assert verdict.status == "held", verdict.reason
