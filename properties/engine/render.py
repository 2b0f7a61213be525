"""One table and one JSON shape for every report, whatever the suites in it.

The table has a row per property or law: its suite, verdict, how many examples (or random
contexts) were checked, the worst error relative to what the claim allows (for a law, its
statistic relative to its threshold), and where or why; then, for each violation, the claim,
the shrunk counterexample and its reproducer, or the law's failing tests.
"""

from __future__ import annotations

import math

from attnspec.properties.engine.results import (ERROR, HELD, INCONCLUSIVE, KNOWN, NOT_APPLICABLE,
                                                NOT_CHECKED, NOT_RUN, VIOLATED, Finding, Report,
                                                finite_or_text, ratio_text)

_REASON_STATUSES = (NOT_APPLICABLE, NOT_CHECKED, NOT_RUN, INCONCLUSIVE, ERROR)


def _ratio(finding: Finding | None) -> str:
    if finding is None:
        return ""
    return ratio_text(finding.ratio)


def _baseline_figure(row) -> str:
    """The baseline's row as one figure: its worst err/tol, or its verdict where it has none."""
    if row is None:
        return "new"
    if row.status in (HELD, VIOLATED, KNOWN) and row.ratio is not None:
        return ratio_text(row.ratio)
    return row.status


def _count(result) -> str:
    if result.status in (NOT_APPLICABLE, NOT_CHECKED) and not result.examples:
        return "-"
    return str(result.examples)


def _false_alarm(a: float) -> str:
    return "0 (exact)" if a == 0 else f"{a:.0e}"


def render_report(report: Report, verbose: bool = False) -> str:
    """The report as a table a person can act on; ``verbose`` lists every test of every law."""
    subject = report.subject
    lines = [f"attnspec {report.command} {subject['selector']}  (effort {report.effort}"
             + (f", dtypes {' '.join(subject['dtypes'])}" if "dtypes" in subject else "")
             + (f", devices {' '.join(subject['devices_tested']) or 'none'}"
                if "devices_tested" in subject else "") + ")"]
    if subject.get("devices_absent"):
        lines.append(f"  not tested on {', '.join(subject['devices_absent'])}: declared, but no "
                     f"such device here")
    lines += [f"  {note}" for note in report.notes]
    suites = list(dict.fromkeys(r.suite for r in report.results))
    show_suite = len(suites) > 1
    width = max([len(r.name) for r in report.results] + [20])
    swidth = max([len(s) for s in suites] + [5])
    if report.baseline:
        lines.append(f"  baseline: {report.baseline} (its worst err/tol beside each row)")
    lines.append("")
    lines.append((f"{'suite':<{swidth}}  " if show_suite else "")
                 + f"{'property':<{width}}  {'verdict':<14}  {'examples':>8}  "
                   f"{'worst err/tol':>13}  " + (f"{'baseline':>13}  " if report.baseline else "")
                 + "where / why")
    # a violation whose error an earlier one shares (engine/causes.py) points at it
    first_of = {id(r): cause.results[0].name for cause in report.causes for r in cause.results[1:]}
    for r in report.results:
        if id(r) in first_of:
            why = f"the same error as {first_of[id(r)]}"
        elif r.status in _REASON_STATUSES or (r.status == VIOLATED and not r.checks and r.reason
                                              and r.worst is None):
            why = r.reason
        elif r.worst is not None and r.worst.detail:
            why = r.worst.detail
        else:
            why = ""
        if (r.worst is not None and r.worst.device and r.status in (HELD, VIOLATED, KNOWN)
                and (r.worst.ratio > 0 or r.status != HELD)):  # the worst case's dtype, device
            why = f"{why}  [{r.worst.dtype}, {r.worst.device}]"
        elif r.false_alarm is not None and r.status in (HELD, VIOLATED) and r.checks:
            seed = "" if r.seed is None else f", seed {r.seed}"
            why = f"{why}  [false alarm {_false_alarm(r.false_alarm)}{seed}]"
        if r.known:
            why = f"{why}  (known: {r.known})" if r.status == KNOWN else f"{why}  ({r.note})"
        ratio = _ratio(r.worst) if r.status in (HELD, VIOLATED, KNOWN) else ""
        verdict = r.verdict
        old = f"{_baseline_figure(r.baseline):>13}  " if report.baseline else ""
        lines.append((f"{r.suite:<{swidth}}  " if show_suite else "")
                     + f"{r.name:<{width}}  {verdict:<14}  {_count(r):>8}  {ratio:>13}  {old}{why}")
        for c in r.checks:
            if verbose or not c.held:
                mark = "ok " if c.held else "FAIL"
                lines.append(f"{'':<{width}}    {mark} {c.name}: {c.describe()}")
    for cause in report.causes:
        lines += ["", f"ONE CAUSE: {len(cause.results)} properties failed with the same error",
                  f"  {cause.error}", f"  properties: {', '.join(cause.names)}"]
        if cause.hint:
            lines.append(f"  hint: {cause.hint}")
    for r in report.results:
        if r.status != VIOLATED or r.counterexample is None:
            continue
        ex = r.counterexample
        detail = (f"  the same error as {first_of[id(r)]} (ONE CAUSE above)" if id(r) in first_of
                  else f"  {ex.detail}")
        lines += ["", f"VIOLATED {r.name}: {r.claim}",
                  f"  counterexample ({ex.device}): {ex.case}", detail]
        if r.note:
            lines.append(f"  note: {r.note}")
        if ex.reproduce:
            lines.append(f"  reproduce: {ex.reproduce['shell']}")
    if report.regressions:
        lines += ["", f"REGRESSIONS against {report.baseline}:"]
        lines += [f"  {r.suite}/{r.name}: {r.regression}" for r in report.regressions]
    counts: dict[str, int] = {}
    for r in report.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    if not report.checked:
        summary = (f"nothing was checked: {summary or 'no property ran'} (see the notes above; "
                   f"a run that checks nothing fails)")
    if report.baseline:
        summary += f"; {len(report.regressions)} regressed against the baseline"
    if report.fixed_known:
        summary += (f"; {len(report.fixed_known)} known failure(s) now hold: "
                    + ", ".join(r.known.split(': ', 1)[0] for r in report.fixed_known)
                    + " can be removed")
    lines += ["", f"{summary}  ({report.seconds:.1f} s)"]
    if report.timing:
        lines.append(report.timing)
    if any(r.checks or r.false_alarm is not None for r in report.results):
        lines.append("laws: examples are the random contexts drawn; worst err/tol is the test "
                     "statistic over its threshold; each law's false-alarm rate is split over "
                     "its tests (Bonferroni)")
    return "\n".join(lines)


def _finding_data(finding: Finding | None) -> dict | None:
    if finding is None:
        return None
    return {
        "ratio": None if math.isinf(finding.ratio) else finding.ratio,
        "infinite": math.isinf(finding.ratio),
        "detail": finding.detail,
        "device": finding.device,
        "dtype": finding.dtype,
        "case": finding.data,
        "description": finding.case,
        "reproduce": finding.reproduce,
    }


def report_header(report: Report, version: str) -> dict:
    """What a report says of how it was made: what a baseline must match to be compared
    (engine/baseline.py), and the environment, for the record."""
    import platform

    import torch

    return {
        "attnspec": version,
        "command": report.command,
        "subject": report.subject,
        "effort": report.effort,
        "max_examples": report.options.get("max_examples"),
        "database": report.options.get("database", False),
        "dtypes": report.options.get("dtypes"),
        "seed": report.options.get("seed"),
        "environment": {"python": platform.python_version(), "torch": torch.__version__,
                        "machine": platform.machine(), "system": platform.system()},
    }


def _baseline_data(row) -> dict | None:
    if row is None:
        return None
    return {"status": row.status, "ratio": None if row.ratio is None else finite_or_text(row.ratio)}


def report_data(report: Report, version: str) -> dict:
    """The report as data (``--json``): one shape for every suite."""
    return {
        **report_header(report, version),
        "baseline": report.baseline,
        "regressions": len(report.regressions),
        "notes": report.notes,
        "seconds": report.seconds,
        "violated": report.violated,
        "errored": report.errored,
        "timing": report.timing,
        "causes": [{"error": c.error, "properties": c.names, "hint": c.hint}
                   for c in report.causes],
        "results": [
            {
                "suite": r.suite,
                "property": r.name,
                "claim": r.claim,
                "status": r.status,
                "reason": r.reason,
                "note": r.note,
                "examples": r.examples,
                "seconds": round(r.seconds, 3),
                "worst": _finding_data(r.worst),
                "counterexample": _finding_data(r.counterexample),
                "false_alarm": r.false_alarm,
                "seed": r.seed,
                "checks": [{"name": c.name, "kind": c.kind, "statistic": finite_or_text(c.statistic),
                            "threshold": finite_or_text(c.threshold), "held": c.held,
                            "measured": finite_or_text(c.measured),
                            "reference": finite_or_text(c.reference), "se": finite_or_text(c.se),
                            "samples": c.samples, "note": c.note} for c in r.checks],
                "numbers": r.numbers,
                "known": r.known,
                "baseline": _baseline_data(r.baseline),
                "regression": r.regression,
            }
            for r in report.results
        ],
    }
