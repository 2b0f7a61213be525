"""Run the property catalogue against one kernel with hypothesis, and collect the verdicts.

Each property draws cases (dtype and device among those declared and present, then a recipe),
checks them, and steers hypothesis with ``target`` toward the largest error relative to its
tolerance. The first violation is shrunk to a small counterexample (within a bounded number of
extra calls, so a slow kernel cannot stall the run) and reported with its reproducer. A kernel
that raises, hangs or returns malformed output gives a violation with the reason.
"""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Verbosity, given, settings, target
from hypothesis import strategies as st
from hypothesis.errors import Flaky, Unsatisfiable

from attnspec.properties.attention.forward import PROPERTIES, Context, Outcome, Property
from attnspec.properties.engine.invoker import Invoker, KernelFailure
from attnspec.properties.loading import Subject
from attnspec.properties.attention.profiles import Profile
from attnspec.properties.attention.recipe import Recipe

TARGET_CAP = 1e12  # hypothesis.target needs finite observations


@dataclass
class Example:
    recipe: Recipe
    device: str
    outcome: Outcome


@dataclass
class PropertyResult:
    name: str
    claim: str
    status: str  # "held", "VIOLATED", "not applicable", "not run", "inconclusive", "error"
    reason: str = ""
    examples: int = 0
    worst: Example | None = None
    counterexample: Example | None = None
    seconds: float = 0.0
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("held", "not applicable")


@dataclass
class CheckReport:
    subject: Subject
    profile: Profile
    results: list[PropertyResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def violated(self) -> bool:
        return any(r.status in ("VIOLATED", "not run", "inconclusive") for r in self.results)

    @property
    def errored(self) -> bool:
        return any(r.status == "error" for r in self.results)


class _Violation(Exception):
    def __init__(self, example: Example):
        super().__init__(example.outcome.detail)
        self.example = example


def run_property(prop: Property, ctx: Context, profile: Profile) -> PropertyResult:
    result = PropertyResult(prop.name, prop.claim, "held")
    reason = prop.applies(ctx.spec)
    if reason:
        result.status, result.reason = "not applicable", reason
        return result
    if ctx.call_kernel.hung_on is not None:
        result.status = "not run"
        result.reason = f"the kernel hung earlier (on {ctx.call_kernel.hung_on})"
        return result
    devices = ctx.subject.devices
    if not devices:
        result.status, result.reason = "not run", "none of the declared devices is present"
        return result

    failures: dict[tuple[str, str], Example] = {}
    hang: list[Example] = []
    start = time.perf_counter()

    @settings(
        max_examples=profile.max_examples,
        derandomize=profile.derandomize,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        print_blob=False,
    )
    @given(data=st.data())
    def body(data):
        dtype = data.draw(st.sampled_from(ctx.spec.dtypes), label="dtype")
        device = data.draw(st.sampled_from(devices), label="device")
        recipe = data.draw(prop.draw(ctx.spec, dtype, profile.limits), label="recipe")
        key = (recipe.to_json(), device)
        if failures and calls_after_failure[0] >= profile.shrink_calls:
            # Shrinking budget spent: only the failures already seen keep failing, so the
            # final replay is deterministic and no further kernel calls are made.
            if key in failures:
                raise _Violation(failures[key])
            return
        if failures:
            calls_after_failure[0] += 1
        try:
            outcome = prop.check(ctx, recipe, device)
        except KernelFailure as failure:
            outcome = Outcome(math.inf, f"kernel {failure.kind}: {failure.message}")
            if failure.kind == "hung" and not hang:
                hang.append(Example(recipe, device, outcome))
        if math.isnan(outcome.ratio):  # NaN compares false with everything: never "held"
            outcome = Outcome(math.inf, f"{outcome.detail} (the error / tolerance ratio is NaN: a "
                                        f"non-finite kernel output reached the comparison)")
        result.examples += 1
        example = Example(recipe, device, outcome)
        if result.worst is None or outcome.ratio > result.worst.outcome.ratio:
            result.worst = example
        target(min(outcome.ratio, TARGET_CAP), label="error / tolerance")
        if outcome.ratio > 1:
            failures[key] = example
            raise _Violation(example)

    calls_after_failure = [0]
    try:
        body()
    except _Violation as violation:
        result.status = "VIOLATED"
        result.counterexample = hang[0] if hang else violation.example
    except Flaky:
        result.status = "VIOLATED"
        result.counterexample = next(iter(failures.values()), None)
        result.note = "the failure did not reproduce on a second call: the kernel's output varies"
    except Unsatisfiable:
        result.status = "inconclusive"
        result.reason = "hypothesis could not draw enough cases where the claim can be tested"
    except Exception as error:  # a bug in attnspec itself: say so, never crash
        result.status = "error"
        frame = traceback.extract_tb(error.__traceback__)[-1]
        result.reason = (f"attnspec itself failed: {type(error).__name__}: {error} "
                         f"(at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})")
    if hang and result.status == "held":  # a hang always counts, even if shrinking lost it
        result.status, result.counterexample = "VIOLATED", hang[0]
    result.seconds = time.perf_counter() - start
    return result


def run_check(
    subject: Subject,
    profile: Profile,
    names: list[str] | None = None,
    on_result=None,
    fail_fast: bool = False,
) -> CheckReport:
    """Run the properties (all, or ``names``) against ``subject``; with ``fail_fast``, stop
    after the first property that does not hold (the rest are reported as not run)."""
    chosen = PROPERTIES if names is None else [p for p in PROPERTIES if p.name in names]
    if profile.properties is not None:
        chosen = [p for p in chosen if p.name in profile.properties]
    ctx = Context(subject, profile, Invoker(subject, profile.call_timeout_s))
    report = CheckReport(subject, profile)
    start = time.perf_counter()
    stopped_at = None
    for prop in chosen:
        if stopped_at is not None:
            outcome = PropertyResult(prop.name, prop.claim, "not run",
                                     reason=f"--fail-fast: stopped after {stopped_at}")
        else:
            outcome = run_property(prop, ctx, profile)
            if fail_fast and not outcome.ok:
                stopped_at = prop.name
        report.results.append(outcome)
        if on_result is not None:
            on_result(outcome)
    report.seconds = time.perf_counter() - start
    return report
