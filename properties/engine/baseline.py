"""Regressions against an earlier report: ``check --baseline`` and ``attnspec compare``.

A baseline is a JSON report (render.report_data) of an earlier run. It is compared with a run
only when both were made the same way: the same attnspec version, command, effort and examples
per property (so a derandomized ci run draws the same cases) and the same kernel declaration;
anything else is refused with the reason (BaselineError), never silently compared. The kernel's
selector, devices, torch version and machine may differ: comparing those is the point.

Each property or law of the run is held against the baseline's row of the same suite and name:

    newly failing   it held (or did not apply) in the baseline and now does not hold;
    grew            both held and the worst err/tol grew by more than ``max_growth`` (default
                    2x; from an exact 0, any growth): a kernel less accurate than it was, though
                    still inside its budget. Only for properties whose figure is an error over
                    a derived tolerance: a law's figure is a test statistic over its threshold,
                    which moves at random between two correct samplers, so a law regresses only
                    by failing.

A row the baseline lacks is new (no figure to compare); a baseline row the run lacks is named
in the comparison's notes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from attnspec.properties.engine.results import KNOWN, PASSING, Result, ratio_text

DEFAULT_MAX_GROWTH = 2.0


class BaselineError(ValueError):
    """A report that cannot serve as a baseline; str(error) is one line for the user."""


@dataclass(frozen=True)
class BaselineRow:
    status: str
    ratio: float | None  # the worst err/tol, None where the row has none
    is_law: bool


@dataclass
class Baseline:
    """An earlier report's rows, keyed by (suite, property), and what it was made with."""

    path: str
    data: dict
    rows: dict[tuple[str, str], BaselineRow] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.path


def load_report(path: str) -> dict:
    """A saved JSON report, or BaselineError saying in one line why it is not one."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise BaselineError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BaselineError(f"{path}: is a directory, not a JSON report") from None
    except json.JSONDecodeError as error:
        raise BaselineError(f"{path}: not a JSON report (corrupt or truncated: {error.msg} at "
                            f"line {error.lineno}, column {error.colno})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineError(f"{path}: cannot be read: {error}") from None
    if isinstance(data, list):
        raise BaselineError(f"{path}: holds {len(data)} reports (a pytest run of several "
                            f"kernels); compare one kernel's report")
    missing = [key for key in ("attnspec", "command", "subject", "effort", "results")
               if not isinstance(data, dict) or key not in data]
    if missing:
        raise BaselineError(f"{path}: not an attnspec report (no {', '.join(missing)})")
    return data


def load_baseline(path: str) -> Baseline:
    data = load_report(path)
    baseline = Baseline(path, data)
    for row in data["results"]:
        try:
            worst = row["worst"]
            ratio = None if worst is None else (math.inf if worst["infinite"] else worst["ratio"])
            baseline.rows[(row["suite"], row["property"])] = BaselineRow(
                row["status"], ratio, bool(row.get("checks")) or row.get("false_alarm") is not None)
        except (KeyError, TypeError):
            raise BaselineError(f"{path}: not an attnspec report (a result row lacks its "
                                f"suite, property, status or worst figure)") from None
    return baseline


# What must agree for two reports to be compared, and how to say that it does not.
_SAME = (
    ("attnspec", "attnspec version"),
    ("command", "command"),
    ("effort", "effort"),
    ("max_examples", "examples per property (--max-examples)"),
    ("dtypes", "dtypes (--dtype)"),
    ("seed", "seed (--seed)"),
)


def refuse_mismatch(old: dict, new: dict, old_label: str = "the baseline") -> None:
    """Raise BaselineError when ``old`` and ``new`` (report data) were not made the same way."""
    for key, what in _SAME:
        if old.get(key) != new.get(key):
            raise BaselineError(f"{old_label} was made with {what} {old.get(key)!r}, this run "
                                f"with {new.get(key)!r}: the reports do not compare")
    if old.get("database") or new.get("database"):
        which = old_label if old.get("database") else "this run"
        raise BaselineError(f"{which} used an example database (--database), which changes the "
                            f"cases drawn: the reports do not compare")
    old_decl = old["subject"].get("declaration")
    new_decl = new["subject"].get("declaration")
    if old_decl != new_decl:
        keys = sorted(k for k in set(old_decl or {}) | set(new_decl or {})
                      if (old_decl or {}).get(k) != (new_decl or {}).get(k))
        raise BaselineError(f"{old_label} is of a kernel declared otherwise (differs in "
                            f"{', '.join(keys) or 'being a kernel at all'}): the reports do not "
                            f"compare")


def regression(old: BaselineRow, new: BaselineRow, max_growth: float,
               old_label: str = "the baseline") -> str | None:
    """Why ``new`` is a regression of ``old`` (module docstring), or None."""
    # a known failure (--known-failures) is tracked, not a regression
    if old.status in PASSING and new.status not in PASSING + (KNOWN,):
        return f"newly {new.status} (was {old.status} in {old_label})"
    if old.is_law or old.status not in PASSING or new.status not in PASSING or old.ratio is None:
        return None
    ratio = new.ratio or 0.0
    if ratio > old.ratio * max_growth or (old.ratio == 0 and ratio > 0):
        growth = "from an exact 0" if old.ratio == 0 else f"{ratio / old.ratio:.3g}x"
        return (f"worst err/tol grew from {old.ratio:.3g} to {ratio:.3g} ({growth}, more than "
                f"the {max_growth:g}x allowed)")
    return None


def row_of(result: Result) -> BaselineRow:
    """A run's result as a row of its own report."""
    return BaselineRow(result.status, None if result.worst is None else result.worst.ratio,
                       bool(result.checks) or result.false_alarm is not None)


def compare_result(result: Result, baseline: Baseline, max_growth: float) -> None:
    """Record on ``result`` the baseline's row and, if it regressed, why."""
    old = baseline.rows.get((result.suite, result.name))
    result.baseline = old
    if old is not None:
        result.regression = regression(old, row_of(result), max_growth, baseline.label)


def missing_rows(results: list[Result], baseline: Baseline) -> list[str]:
    """The baseline's rows that this run does not have, as notes."""
    present = {(r.suite, r.name) for r in results}
    return [f"{suite}/{name}: in {baseline.label}, not in this run"
            for suite, name in baseline.rows if (suite, name) not in present]


@dataclass
class ComparedRow:
    suite: str
    name: str
    old: BaselineRow | None
    new: BaselineRow | None
    regression: str | None


@dataclass
class Comparison:
    """``attnspec compare OLD NEW``: every row of either report, old beside new."""

    old_path: str
    new_path: str
    old: dict
    new: dict
    rows: list[ComparedRow]

    @property
    def regressions(self) -> list[ComparedRow]:
        return [r for r in self.rows if r.regression]


def compare_reports(old_path: str, new_path: str, max_growth: float) -> Comparison:
    """Two saved reports, compared row by row (refused when made another way)."""
    old, new = load_baseline(old_path), load_baseline(new_path)
    refuse_mismatch(old.data, new.data, old_path)
    keys = list(dict.fromkeys(list(old.rows) + list(new.rows)))
    rows = []
    for key in keys:
        o, n = old.rows.get(key), new.rows.get(key)
        why = regression(o, n, max_growth, old_path) if o is not None and n is not None else None
        rows.append(ComparedRow(key[0], key[1], o, n, why))
    return Comparison(old_path, new_path, old.data, new.data, rows)


def _figure(row: BaselineRow | None) -> str:
    if row is None:
        return "absent"
    if row.ratio is None:
        return row.status
    ratio = ratio_text(row.ratio)
    return ratio if row.status == "held" else f"{row.status} {ratio}"


def _environment(data: dict) -> str:
    subject = data["subject"]
    env = data.get("environment") or {}
    devices = ",".join(subject.get("devices_tested", [])) or "-"
    return (f"{subject.get('selector', '?')} on {devices}, torch {env.get('torch', '?')}, "
            f"python {env.get('python', '?')}")


def render_comparison(comparison: Comparison, markdown: bool = False) -> str:
    """The comparison as the table ``attnspec compare`` prints (or as Markdown)."""
    c = comparison
    head = [f"attnspec compare (effort {c.new['effort']}, attnspec {c.new['attnspec']})",
            f"  old: {c.old_path}: {_environment(c.old)}",
            f"  new: {c.new_path}: {_environment(c.new)}"]
    width = max([len(r.name) for r in c.rows] + [20])
    swidth = max([len(r.suite) for r in c.rows] + [5])
    if markdown:
        lines = [f"## {head[0]}: {'FAIL' if c.regressions else 'PASS'}", "",
                 f"- old: `{c.old_path}`: {_environment(c.old)}",
                 f"- new: `{c.new_path}`: {_environment(c.new)}", "",
                 "| suite | property | old | new | change |", "|---|---|---|---|---|"]
        for r in c.rows:
            change = r.regression or ""
            lines.append(f"| {r.suite} | `{r.name}` | {_figure(r.old)} | {_figure(r.new)} | "
                         f"{change.replace('|', '/')} |")
        lines += ["", f"{len(c.regressions)} regression(s) in {len(c.rows)} rows"]
        return "\n".join(lines) + "\n"
    lines = head + ["", f"{'suite':<{swidth}}  {'property':<{width}}  {'old':>16}  {'new':>16}  "
                        f"change"]
    for r in c.rows:
        change = f"REGRESSED: {r.regression}" if r.regression else ""
        lines.append(f"{r.suite:<{swidth}}  {r.name:<{width}}  {_figure(r.old):>16}  "
                     f"{_figure(r.new):>16}  {change}")
    lines += ["", f"{len(c.regressions)} regression(s) in {len(c.rows)} rows (a worst err/tol "
                  f"may grow by a factor of at most the --max-growth given; a law regresses only "
                  f"by failing)"]
    return "\n".join(lines)
