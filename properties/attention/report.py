"""Render a check as a table a person can act on, and as data (--json)."""

from __future__ import annotations

import json
import math
import shlex

from attnspec.properties.engine.driver import CheckReport, Example, PropertyResult


def reproducer(report: CheckReport, result: PropertyResult, example: Example) -> dict:
    selector = report.subject.selector
    case = example.recipe.to_json()
    shell = (f"attnspec reproduce {shlex.quote(selector)} --property {result.name} "
             f"--device {example.device} --case {shlex.quote(case)}")
    python = "\n".join([
        "from attnspec.properties.attention.cases import build_case",
        "from attnspec.properties.loading import load_kernel",
        "from attnspec.properties.attention.recipe import Recipe",
        f"kernel = load_kernel({selector!r}).fn",
        f"case = build_case(Recipe.from_json({case!r}), {example.device!r})",
        "result = kernel(case.q, case.k, case.v, **case.kwargs)",
    ])
    return {"shell": shell, "python": python}


def _ratio(example: Example | None) -> str:
    if example is None:
        return ""
    r = example.outcome.ratio
    return "inf" if math.isinf(r) else f"{r:.3g}"


def render(report: CheckReport) -> str:
    s = report.subject
    lines = [f"attnspec check {s.selector}  (profile {report.profile.name}, "
             f"dtypes {' '.join(s.spec.dtypes)}, devices {' '.join(s.devices) or 'none'})"]
    if s.absent_devices:
        lines.append(f"  not tested on {', '.join(s.absent_devices)}: declared, but no such "
                     f"device here")
    width = max(len(r.name) for r in report.results) if report.results else 20
    lines.append("")
    lines.append(f"{'property':<{width}}  {'verdict':<14}  {'examples':>8}  "
                 f"{'worst err/tol':>13}  where / why")
    for r in report.results:
        if r.status in ("not applicable", "not run", "inconclusive", "error"):
            why = r.reason
        elif r.worst is not None and r.worst.outcome.detail:
            why = r.worst.outcome.detail
        else:
            why = ""
        if r.status == "held" and r.worst is not None and r.worst.outcome.ratio > 0:
            why = f"{why}  [{r.worst.recipe.dtype}, {r.worst.device}]"
        lines.append(f"{r.name:<{width}}  {r.status:<14}  {r.examples:>8}  "
                     f"{_ratio(r.worst) if r.status in ('held', 'VIOLATED') else '':>13}  {why}")
    for r in report.results:
        if r.status != "VIOLATED" or r.counterexample is None:
            continue
        ex = r.counterexample
        repro = reproducer(report, r, ex)
        lines += [
            "",
            f"VIOLATED {r.name}: {r.claim}",
            f"  counterexample ({ex.device}): {ex.recipe.describe()}",
            f"  {ex.outcome.detail}",
        ]
        if r.note:
            lines.append(f"  note: {r.note}")
        lines.append(f"  reproduce: {repro['shell']}")
    counts = {}
    for r in report.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    lines += ["", f"{summary}  ({report.seconds:.1f} s)"]
    return "\n".join(lines)


def _example(report, result, example: Example | None) -> dict | None:
    if example is None:
        return None
    ratio = example.outcome.ratio
    return {
        "ratio": None if math.isinf(ratio) else ratio,
        "infinite": math.isinf(ratio),
        "detail": example.outcome.detail,
        "device": example.device,
        "recipe": json.loads(example.recipe.to_json()),
        "description": example.recipe.describe(),
        "reproduce": reproducer(report, result, example),
    }


def as_data(report: CheckReport) -> dict:
    s = report.subject
    return {
        "kernel": {"selector": s.selector, "name": s.name, "declaration": s.spec.to_declaration(),
                   "devices_tested": list(s.devices), "devices_absent": list(s.absent_devices)},
        "profile": report.profile.name,
        "seconds": report.seconds,
        "violated": report.violated,
        "results": [
            {
                "property": r.name,
                "claim": r.claim,
                "status": r.status,
                "reason": r.reason,
                "note": r.note,
                "examples": r.examples,
                "seconds": r.seconds,
                "worst": _example(report, r, r.worst),
                "counterexample": _example(report, r, r.counterexample),
            }
            for r in report.results
        ],
    }
