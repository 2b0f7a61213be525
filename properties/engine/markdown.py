"""The report as a Markdown summary (``--markdown``), for a CI job page.

GitHub Actions shows a job's ``$GITHUB_STEP_SUMMARY`` file as Markdown, and other CI systems
render a Markdown artifact the same way. The summary says the verdict first (with the
regressions against a baseline and the known failures that now hold), then the table of
``attnspec check``, then for each violation its claim, counterexample and the command that
reproduces it.
"""

from __future__ import annotations

from attnspec.properties.engine.results import HELD, KNOWN, VIOLATED, Report, ratio_text


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _figure(ratio: float | None) -> str:
    if ratio is None:
        return ""
    return ratio_text(ratio)


def _verdict(report: Report) -> str:
    if report.errored:
        return "attnspec itself failed (an error row below)"
    failing = [r for r in report.results if not r.ok]
    parts = []
    if failing:
        parts.append(f"{len(failing)} of {len(report.results)} properties do not hold")
    if report.regressions:
        parts.append(f"{len(report.regressions)} regressed against the baseline")
    if not report.checked:
        parts.append("nothing was checked (see the notes)")
    if not parts:
        parts.append(f"every property holds ({len(report.results)} checked)")
    return "; ".join(parts)


def render_markdown(report: Report) -> str:
    subject = report.subject
    mark = ("FAIL" if (report.errored or report.violated or report.regressions
                       or not report.checked) else "PASS")
    lines = [f"## attnspec {report.command} `{subject['selector']}`: {mark}", "",
             f"{_verdict(report)}. Effort {report.effort}"
             + (f", dtypes {', '.join(subject['dtypes'])}" if "dtypes" in subject else "")
             + (f", devices {', '.join(subject['devices_tested']) or 'none'}"
                if "devices_tested" in subject else "") + f", {report.seconds:.0f} s."]
    if report.baseline:
        lines.append(f"Compared with the baseline `{report.baseline}`.")
    notes = list(report.notes)
    if subject.get("devices_absent"):
        notes.insert(0, f"not tested on {', '.join(subject['devices_absent'])}: declared, but "
                        f"no such device here")
    notes += [f"known failure now holds: {r.suite}/{r.name} ({r.note})" for r in report.fixed_known]
    if notes:
        lines += [""] + [f"- {_cell(note)}" for note in notes]
    for cause in report.causes:
        lines += ["", f"**One cause: {len(cause.results)} properties failed with the same "
                      f"error**: `{_cell(cause.error)}` ({', '.join(cause.names)})"
                  + (f". Hint: {_cell(cause.hint)}" if cause.hint else "")]
    if report.regressions:
        lines += ["", "### Regressions", ""]
        lines += [f"- **{r.suite}/{r.name}**: {_cell(r.regression)}" for r in report.regressions]
    head = ["suite", "property", "verdict", "examples", "worst err/tol"]
    if report.baseline:
        head.append("baseline")
    head.append("where / why")
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in report.results:
        verdict = r.verdict
        if r.status in (HELD, VIOLATED, KNOWN) and r.worst is not None:
            figure, why = _figure(r.worst.ratio), r.worst.detail
        else:
            figure, why = "", r.reason
        if r.status == KNOWN:
            why = f"{why} (known: {r.known})"
        row = [r.suite, f"`{r.name}`", f"**{verdict}**" if not r.ok or r.regression else verdict,
               str(r.examples), figure]
        if report.baseline:
            old = r.baseline
            row.append("new" if old is None else (_figure(old.ratio) if old.ratio is not None
                                                  else old.status))
        row.append(why)
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    for r in report.results:
        if r.status != VIOLATED or r.counterexample is None:
            continue
        ex = r.counterexample
        lines += ["", f"### {r.suite}/{r.name} VIOLATED", "", _cell(r.claim), "",
                  f"Counterexample ({ex.device}): `{ex.case}`", "", ex.detail]
        if r.note:
            lines += ["", f"Note: {r.note}"]
        if ex.reproduce:
            lines += ["", "```sh", ex.reproduce["shell"], "```"]
    return "\n".join(lines) + "\n"
