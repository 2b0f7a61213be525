"""One cause, one message: violations whose counterexamples failed with the same error.

A kernel that raises on every case (it needs Dv == D, or takes no ``scale=``) fails every
property with one exception. The report lists that error once, with the properties it broke,
instead of once per property, and with the suite's hint when one declaration key would express
what the failing cases share (``Suite.hint``). Only failures of the call itself are grouped
(the subject raised, crashed, hung or returned something malformed): a wrong value is each
property's own finding.

Two errors are the same when their text is, up to the numbers in it (shapes and sizes differ
from case to case: "head dims differ: 8 vs 16" and "... 4 vs 24" are one cause).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from attnspec.properties.engine.results import VIOLATED, Result

CALL_FAILURES = ("kernel raised: ", "kernel crashed: ", "kernel hung: ", "kernel malformed: ")


@dataclass
class Cause:
    error: str  # the first failing property's error, as it was reported
    results: list[Result] = field(default_factory=list)
    hint: str | None = None  # a declaration key that would express it, from the suite

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.results]


def call_failure(result: Result) -> str | None:
    """The error of a violation whose counterexample's call failed, or None."""
    ex = result.counterexample
    if result.status != VIOLATED or ex is None or not ex.detail.startswith(CALL_FAILURES):
        return None
    return ex.detail


def _key(error: str) -> str:
    return re.sub(r"\d+(\.\d+)?", "#", error)


def shared_causes(results: list[Result]) -> list[Cause]:
    """The errors that two or more violations share, in report order."""
    by_key: dict[str, Cause] = {}
    for result in results:
        error = call_failure(result)
        if error is not None:
            by_key.setdefault(_key(error), Cause(error)).results.append(result)
    return [cause for cause in by_key.values() if len(cause.results) > 1]
