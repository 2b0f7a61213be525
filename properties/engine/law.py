"""What a statistical law is: a claim about the distribution of what a source draws.

A Law names one claim, its provenance, and a sampling plan per effort; its ``run`` draws from a
source (the wing says what a source is) and returns Measurements, which statistics.py turns
into tests at the law's false-alarm rate. Checking a law gives a Result (results.py) like any
property's. Every sampling job of a plan has a fixed seed (``case_seed``: the plan's seed +
1009 x the job's index), so a run is reproducible.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from attnspec.properties.engine.results import (ERROR, HELD, NOT_APPLICABLE, NOT_RUN, VIOLATED,
                                                Finding, Result, internal_error)
from attnspec.properties.engine.statistics import Measurement, thresholded
from attnspec.properties.engine.suite import Session

ALPHA = 1e-6  # a law's false-alarm rate unless it states another


@dataclass(frozen=True)
class Plan:
    """A law's sampling plan at one effort: law-specific ``cases`` (frozen dataclasses with a
    ``contexts`` count each, or a ``total_contexts``), a base ``seed``, and a description."""

    cases: tuple
    seed: int
    description: str = ""

    @property
    def contexts(self) -> int:
        return int(sum(getattr(c, "total_contexts", getattr(c, "contexts", 0)) for c in self.cases))


def reseeded(plan: Plan, run_seed: int | None) -> Plan:
    """``plan`` with its base seed drawn from a run's seed (--seed), or unchanged (None). The
    law's own base seed is mixed in, so laws keep distinct streams, and one run seed repeats
    the whole run."""
    if run_seed is None:
        return plan
    mixed = np.random.SeedSequence([run_seed, plan.seed]).generate_state(1)[0]
    return replace(plan, seed=int(mixed) % 2**31)


def case_seed(plan: Plan, index: int) -> int:
    """Seed of the ``index``-th sampling job of a plan (distinct, reproducible streams)."""
    return plan.seed + 1009 * index


class SourceFailure(Exception):
    """The source under test (a kernel) raised, hung, or returned something malformed or
    non-finite: a violation of the law, with the reason."""


@dataclass(frozen=True)
class Law:
    """A statistical law: ``run(source, plan, numbers) -> [Measurement]`` draws from the source
    and measures (recording figures in ``numbers``); ``needs`` are what it reads from a source,
    which says through ``source.unsupported(needs, plan)`` whether it can supply them."""

    name: str
    claim: str
    provenance: str
    statistic: str  # what is measured, in words
    plans: dict  # effort -> Plan for the wing's own sampler
    kernel_plans: dict  # effort -> Plan for a kernel under test
    run: Callable[[Any, Plan, dict], list[Measurement]]
    needs: frozenset
    alpha: float = ALPHA

    def plan(self, source, effort: str = "ci") -> Plan:
        plans = self.kernel_plans if source.is_kernel else self.plans
        if effort not in plans:
            raise ValueError(f"law {self.name} has no plan at effort {effort!r}; it has "
                             f"{', '.join(plans)}")
        return plans[effort]

    def check(self, source, effort: str = "ci", plan: Plan | None = None, suite: str = "",
              seed: int | None = None) -> Result:
        """Run the law on ``source`` with the plan of ``effort``, or with an explicit ``plan``
        (its cases must be the law's case type); ``seed`` (--seed) draws the plan's seeds from
        it instead of the plan's fixed ones."""
        default = self.plan(source, effort)
        chosen = plan or default
        plan = reseeded(chosen, seed)
        result = Result(suite, self.name, self.claim, HELD, examples=plan.contexts,
                        false_alarm=self.alpha, seed=plan.seed)
        result.numbers["plan"] = effort if chosen == default else "custom"
        if seed is not None:
            result.numbers["run_seed"] = seed
        reason = source.unsupported(self.needs, plan)
        if reason:
            result.status, result.reason, result.examples = NOT_APPLICABLE, reason, 0
            return result
        start = time.perf_counter()
        try:
            measurements = self.run(source, plan, result.numbers)
        except SourceFailure as failure:
            result.status, result.reason = VIOLATED, f"kernel failure: {failure}"
        except Exception as error:  # noqa: BLE001 - a bug in attnspec, reported as such
            result.status, result.reason = ERROR, internal_error(error)
        else:
            result.checks = thresholded(measurements, self.alpha)
            failed = [c for c in result.checks if not c.held]
            result.status = VIOLATED if failed else HELD
            if failed:
                result.reason = f"{failed[0].name}: {failed[0].describe()}"
            worst = headline_check(result.checks)
            if worst is not None:
                result.worst = Finding(worst.ratio, f"{worst.name}: {worst.headline()}")
        result.seconds = time.perf_counter() - start
        return result


def headline_check(checks):
    """The failing check furthest over its threshold; when all hold, the statistical test (z or
    KS) closest to its threshold (the oracle-only checks are shown in the details)."""
    if not checks:
        return None
    pool = ([c for c in checks if not c.held]
            or [c for c in checks if c.kind in ("z", "ks")] or checks)
    return max(pool, key=lambda c: c.ratio)


class LawSession(Session):
    """A wing's laws on one source at one effort: each law's plan for the effort
    (``plan_of_effort``), from the plans' fixed seeds or a run's ``seed`` (--seed). A source that
    is a kernel (``source.is_kernel``) is not called again once it hung."""

    def __init__(self, suite: str, laws, source, effort: str, plan_of_effort: dict,
                 seed: int | None = None):
        self.suite = suite
        self.laws = {law.name: law for law in laws}
        self.source = source
        self.effort = effort
        self.plan_of_effort = plan_of_effort
        self.seed = seed

    def names(self) -> list[str]:
        return list(self.laws)

    def claim(self, name: str) -> str:
        return self.laws[name].claim

    def run(self, name: str) -> Result:
        hung_on = self.source.subject.invoker.hung_on if self.source.is_kernel else None
        if hung_on is not None:
            return Result(self.suite, name, self.claim(name), NOT_RUN,
                          reason=f"the kernel hung earlier (on {hung_on})")
        result = self.laws[name].check(self.source, self.plan_of_effort[self.effort],
                                       suite=self.suite, seed=self.seed)
        result.numbers.setdefault("source", self.source.name)
        return result
