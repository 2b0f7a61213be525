"""The index of suites: what ``attnspec check``, ``attnspec laws check`` and the pytest plugin run.

    attention       the kernel contract (properties/attention/), every effort
    gradients       its backward: dq, dk, dv through autograd (properties/attention/), every effort
    long_contexts   out and lse on 1e4..1e6-key rows (properties/attention/), thorough only
    scaling_limits  the statistical laws of long random contexts (properties/scaling_limits/)
    mean_field      the mean-field token flows driven by the kernel: a depth test (properties/mean_field/)
    alibi_lsh       a kernel's ALiBi path against its own block-mask path (properties/alibi_lsh/)
    fast_slow       the fast-slow coupled layer built on the kernel (properties/fast_slow/)

A paper's wing adds its suite here, and nothing to the CLI or the plugin. ``run`` opens every
chosen suite that has a plan at the effort on one subject (a loaded kernel, or None for the
wings' own samplers) and gathers one Report; a suite with no plan at the effort is named in the
report, never silently left out.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import replace

from attnspec.properties.alibi_lsh.suite import ALIBI_LSH
from attnspec.properties.attention.compile_time import clock_of
from attnspec.properties.attention.suite import CONTRACT, GRADIENTS, LONG_CONTEXTS
from attnspec.properties.engine.causes import Cause, shared_causes
from attnspec.properties.engine.results import NOT_APPLICABLE, Report, Result
from attnspec.properties.engine.suite import NotApplicable, RunOptions, run_sessions
from attnspec.properties.fast_slow.suite import FAST_SLOW
from attnspec.properties.mean_field.suite import MEAN_FIELD
from attnspec.properties.scaling_limits.suite import SCALING_LIMITS

SUITES = (CONTRACT, GRADIENTS, LONG_CONTEXTS, SCALING_LIMITS, MEAN_FIELD, ALIBI_LSH,
          FAST_SLOW)


def subject_data(subject, name: str = "") -> dict:
    """The subject as the report names it: a kernel's selector, declaration and devices."""
    if subject is None:
        return {"selector": name, "name": name}
    return {"selector": subject.selector, "name": subject.name,
            "declaration": subject.spec.to_declaration(), "dtypes": list(subject.spec.dtypes),
            "devices_tested": list(subject.devices), "devices_absent": list(subject.absent_devices)}


def open_sessions(subject, options: RunOptions) -> tuple[list, list[str], list[Result]]:
    """The sessions of every chosen suite on ``subject`` (the CLI and the plugin both run
    these), with a note for each suite that has no plan at the effort and a not-applicable
    result for each claim of a suite that cannot check the subject."""
    sessions, notes, results = [], [], []
    for suite in SUITES:
        if options.suites is not None and suite.name not in options.suites:
            continue
        if options.properties is not None and not {n for n, _ in suite.claims()} & set(options.properties):
            continue
        unplanned = suite.unplanned(options.effort)
        if unplanned:
            notes.append(f"suite {suite.name}: not run at effort {options.effort}; it {unplanned}")
            continue
        try:
            sessions.append(suite.open(subject, options.effort, max_examples=options.max_examples,
                                       call_timeout=options.call_timeout,
                                       database=options.database, isolation=options.isolation,
                                       seed=options.seed))
        except NotApplicable as why:
            results += [Result(suite.name, name, claim, NOT_APPLICABLE, reason=str(why))
                        for name, claim in suite.claims()]
    return sessions, notes, results


class RunError(ValueError):
    """Options that cannot apply to this subject; str(error) is one line for the user."""


def with_dtypes(subject, dtypes: tuple[str, ...] | None):
    """``subject`` drawing only ``dtypes`` (--dtype), which it must declare; None: unchanged."""
    if subject is None or dtypes is None:
        if dtypes is not None:
            raise RunError("--dtype needs a kernel (this run checks the wing's own sampler)")
        return subject
    undeclared = [d for d in dtypes if d not in subject.spec.dtypes]
    if undeclared:
        raise RunError(f"{subject.selector} does not declare {', '.join(undeclared)} (it "
                       f"declares {', '.join(subject.spec.dtypes)}); --dtype chooses among those")
    chosen = tuple(d for d in subject.spec.dtypes if d in dtypes)
    return replace(subject, spec=replace(subject.spec, dtypes=chosen))


def explained_causes(results: list[Result]) -> list[Cause]:
    """The errors several violations share, each with its suite's hint (engine/causes.py)."""
    by_name = {suite.name: suite for suite in SUITES}
    causes = shared_causes(results)
    for cause in causes:
        suite = by_name.get(cause.results[0].suite)
        cases = [r.counterexample.data for r in cause.results if r.counterexample.data]
        cause.hint = None if suite is None else suite.hint(cause.error, cases)
    return causes


def new_report(subject, options: RunOptions, command: str = "check", name: str = "") -> Report:
    """The empty report of a run: its header is what a baseline must match (the subject as
    declared, and the dtypes checked when --dtype chose some)."""
    data = subject_data(subject, name)
    if subject is not None and options.dtypes is not None:
        data["dtypes"] = [d for d in subject.spec.dtypes if d in options.dtypes]
    return Report(data, options.effort, command=command,
                  options={"max_examples": options.max_examples,
                           "database": bool(options.database), "dtypes": data.get("dtypes")
                           if options.dtypes is not None else None, "seed": options.seed})


def run(subject, options: RunOptions, on_result=None, command: str = "check",
        name: str = "", tracking=None) -> Report:
    """Every chosen suite on ``subject`` at the options' effort, as one report; ``tracking``
    (properties/tracking.py) marks known failures and regressions as results come."""
    report = new_report(subject, options, command, name)
    start = time.perf_counter()
    fresh = []
    if options.seed is None and options.effort == "thorough":  # fresh randomness, named
        options = replace(options, seed=secrets.randbelow(2**31))
        fresh.append(f"effort thorough drew seed {options.seed}: --seed {options.seed} repeats "
                     f"this run's cases and samples")
    sessions, report.notes, report.results = open_sessions(with_dtypes(subject, options.dtypes),
                                                           options)
    report.notes[:0] = fresh
    if subject is not None and subject.spec.restrictions:
        from attnspec.kernels.spec import RESTRICTIONS

        report.notes.append("declared restrictions, never drawn: " + "; ".join(
            RESTRICTIONS[r] for r in subject.spec.restrictions))

    def track(result):
        if tracking is not None:
            tracking.apply(result)
        if on_result is not None:
            on_result(result)

    for result in report.results:
        track(result)
    results, _ = run_sessions(sessions, options.properties, track, options.fail_fast)
    report.results.extend(results)
    report.causes = explained_causes(report.results)
    if subject is not None:
        report.timing = clock_of(subject.invoker).summary(subject.spec.compiled_per_shape) or ""
    if tracking is not None and tracking.baseline is not None:
        from attnspec.properties.engine.baseline import missing_rows

        report.baseline = tracking.baseline.label
        report.notes += missing_rows(report.results, tracking.baseline)
        if options.effort != "ci":  # only the ci effort is derandomized
            report.notes.append(f"effort {options.effort} draws fresh cases each run: a figure "
                                f"may differ from the baseline's by the cases as much as by the "
                                f"kernel (compare at effort ci)")
    report.seconds = time.perf_counter() - start
    return report
