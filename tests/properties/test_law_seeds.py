"""--seed reseeds every law's plan: one run seed repeats the run, laws keep distinct streams,
and no seed keeps the fixed seeds ci runs on (engine/law.py)."""

from __future__ import annotations

from attnspec.properties.engine.law import Plan, case_seed, reseeded


def test_no_run_seed_keeps_the_plans_fixed_seed():
    plan = Plan((), seed=4100)
    assert reseeded(plan, None) is plan


def test_a_run_seed_repeats_and_separates_laws_and_runs():
    a, b = Plan((), seed=4100), Plan((), seed=5100)
    assert reseeded(a, 7) == reseeded(a, 7)
    assert reseeded(a, 7).seed != reseeded(a, 8).seed  # another run seed: other draws
    assert reseeded(a, 7).seed != reseeded(b, 7).seed  # two laws: two streams
    assert reseeded(a, 7).seed not in (4100, 5100)
    # the jobs of a plan still get their own streams from its base seed
    assert case_seed(reseeded(a, 7), 1) - case_seed(reseeded(a, 7), 0) == 1009
