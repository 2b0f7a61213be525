"""What a suite is to the front door: a wing's checks, opened on one subject at one effort.

A Suite names itself, says what each effort does (for the help text), lists its claims, and
opens a Session on a subject (a loaded kernel, or None for a wing's own sampler) at an effort
it has a plan for (``unplanned`` says why not, where it has none); ``open`` raises
NotApplicable when the subject cannot be checked by it at all. A Session runs one property or
law by name and gives Results; ``notes`` are results that need no run (a capability declared
that nothing checks yet). ``run_sessions`` is the loop every command uses (the pytest plugin
runs a session's properties one item at a time).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

from attnspec.properties.engine.results import NOT_RUN, Result

EFFORTS = ("quick", "ci", "thorough")


@dataclass(frozen=True)
class RunOptions:
    """What a run does (properties/options.py reads them from the command line or pytest)."""

    effort: str = "ci"
    suites: tuple[str, ...] | None = None  # None: every suite that applies
    properties: tuple[str, ...] | None = None  # None: all of them
    max_examples: int | None = None  # overrides the effort's examples per property
    call_timeout: float | None = None  # overrides the effort's per-call time limit (seconds)
    json: str | None = None  # where to write the report as JSON
    fail_fast: bool = False  # stop after the first claim that does not hold
    baseline: str | None = None  # an earlier JSON report to compare with (regressions exit 1)
    max_growth: float = 2.0  # a worst err/tol that grew past this factor is a regression
    known_failures: str | None = None  # a file of violations that are known and tracked
    strict_known_failures: bool = False  # a known failure that now holds fails the run
    markdown: str | None = None  # where to write the report as a Markdown summary
    database: str | None = None  # hypothesis's example database directory (None: no database)
    isolation: str | None = None  # "process" or "none"; None: the default for the subject
    dtypes: tuple[str, ...] | None = None  # check only these of the declared dtypes (None: all)
    seed: int | None = None  # the run's seed (--seed): hypothesis's and every law's draws


class NotApplicable(Exception):
    """The suite cannot check this subject; str(error) says why."""


class Session:
    suite: str

    def names(self) -> list[str]:
        raise NotImplementedError

    def claim(self, name: str) -> str:
        raise NotImplementedError

    def run(self, name: str) -> Result:
        raise NotImplementedError

    def notes(self) -> list[Result]:
        return []


class Suite:
    name: str
    summary: str

    def efforts(self) -> dict[str, str]:
        """effort -> what a run at that effort does, in a few words."""
        raise NotImplementedError

    def claims(self) -> list[tuple[str, str]]:
        """(name, claim) of every property or law, in report order."""
        raise NotImplementedError

    def unplanned(self, effort: str) -> str | None:
        """None when the suite runs at ``effort``, else why not (where it does run)."""
        return None if effort in self.efforts() else (
            f"runs at effort {' and '.join(self.efforts())} only")

    def open(self, subject, effort: str, **options) -> Session:
        raise NotImplementedError

    def hint(self, error: str, cases: list[dict]) -> str | None:
        """Which declaration key would express what the failing ``cases`` (their data, as the
        counterexamples carry it) of one shared ``error`` have in common (engine/causes.py);
        None when the suite cannot tell."""
        return None


def run_sessions(sessions: Iterable[Session], only: Iterable[str] | None = None,
                 on_result: Callable[[Result], None] | None = None,
                 fail_fast: bool = False) -> tuple[list[Result], float]:
    """Run every property or law of every session (or those named in ``only``), in order; with
    ``fail_fast``, stop after the first that does not hold and report the rest as not run."""
    only = None if only is None else set(only)
    results: list[Result] = []
    start = time.perf_counter()
    stopped_at = None
    for session in sessions:
        for name in session.names():
            if only is not None and name not in only:
                continue
            if stopped_at is not None:
                result = Result(session.suite, name, session.claim(name), NOT_RUN,
                                reason=f"--fail-fast: stopped after {stopped_at}")
            else:
                result = session.run(name)
            results.append(result)
            if on_result is not None:  # may mark the result (a known failure: not a stop)
                on_result(result)
            if fail_fast and stopped_at is None and not result.ok:
                stopped_at = name
        if only is None:
            results.extend(session.notes())
    return results, time.perf_counter() - start
