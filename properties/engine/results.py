"""One result vocabulary for every suite: what a run says about each property or law.

A Result is one claim checked on one subject (a kernel, or a law's sample source). Its status
is one of STATUSES; a Finding is one example (a case that was drawn and checked, or one
statistical test of a law) with its error relative to what the claim allows. A Report gathers
the results of a run; render.py turns it into the table and the JSON every command prints.
"""

from __future__ import annotations

import math
import traceback
from dataclasses import dataclass, field

from attnspec.properties.engine.statistics import Check

HELD = "held"
VIOLATED = "VIOLATED"
NOT_APPLICABLE = "not applicable"  # the subject's declaration rules the claim out (why is said)
NOT_CHECKED = "not checked"  # declared, but attnspec has no check for it yet (why is said)
NOT_RUN = "not run"  # could not be run (a hang earlier, no device, --fail-fast)
INCONCLUSIVE = "inconclusive"  # too few cases could be drawn to decide
ERROR = "error"  # attnspec itself failed: a bug to report, not the subject's fault
KNOWN = "known failure"  # violated, and listed as known (--known-failures): does not fail a run
STATUSES = (HELD, VIOLATED, KNOWN, NOT_APPLICABLE, NOT_CHECKED, NOT_RUN, INCONCLUSIVE, ERROR)
PASSING = (HELD, NOT_APPLICABLE, NOT_CHECKED)  # statuses that do not fail a run


@dataclass
class Finding:
    """One example: its error relative to what the claim allows (<= 1 holds), where and how
    (``detail``), and the input it came from (a one-line description, its device and dtype,
    the case as data and a reproducer, where the suite has them)."""

    ratio: float
    detail: str = ""
    case: str = ""
    device: str = ""
    dtype: str = ""
    data: dict | None = None
    reproduce: dict | None = None

    @property
    def held(self) -> bool:
        return self.ratio <= 1


@dataclass
class Result:
    suite: str
    name: str
    claim: str
    status: str = HELD
    reason: str = ""  # why not applicable / not run / error, or the failing test of a law
    note: str = ""
    examples: int = 0  # cases drawn and checked, or random contexts sampled
    seconds: float = 0.0
    worst: Finding | None = None  # the example furthest from holding
    counterexample: Finding | None = None  # the shrunk violating example
    checks: list[Check] = field(default_factory=list)  # a law's thresholded statistical tests
    false_alarm: float | None = None  # a law's stated false-alarm rate
    seed: int | None = None
    numbers: dict = field(default_factory=dict)  # a law's measured figures, for the record
    known: str = ""  # the known-failures line that lists this claim for this subject, if any
    baseline: object = None  # the baseline's row (baseline.BaselineRow), when compared
    regression: str = ""  # why this is a regression of the baseline, if it is

    @property
    def ok(self) -> bool:
        """Does not fail the run by its verdict (a known failure does not)."""
        return self.status in PASSING or self.status == KNOWN

    @property
    def verdict(self) -> str:
        """The status as a table shows it: REGRESSED for a claim that holds but regressed
        against the baseline."""
        return "REGRESSED" if self.regression and self.status == HELD else self.status

    @property
    def fixed_known(self) -> bool:
        """Listed as a known failure, and holds now: the line can be removed."""
        return bool(self.known) and self.status == HELD

    @property
    def ratio(self) -> float:
        return self.worst.ratio if self.worst is not None else 0.0


@dataclass
class Report:
    """The results of one run on one subject, at one effort."""

    subject: dict  # selector/name, and for a kernel its declaration and devices
    effort: str
    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0
    command: str = "check"  # the command that made it (for the report's title)
    notes: list[str] = field(default_factory=list)  # what was not run, and why
    baseline: str | None = None  # the baseline report compared with, if any
    options: dict = field(default_factory=dict)  # how the run was made (for comparing reports)
    causes: list = field(default_factory=list)  # errors several violations share (causes.py)
    timing: str = ""  # where the subject's time went (first calls on new inputs: compiling)

    @property
    def violated(self) -> bool:
        """Some claim does not hold, or could not be run or decided."""
        return any(r.status in (VIOLATED, NOT_RUN, INCONCLUSIVE) for r in self.results)

    @property
    def checked(self) -> bool:
        """Some claim was checked on at least one example: a run that checked nothing (every
        suite unplanned at the effort, every claim not applicable) is no pass."""
        return any(r.examples > 0 and r.status in (HELD, VIOLATED, KNOWN, INCONCLUSIVE)
                   for r in self.results)

    @property
    def regressions(self) -> list[Result]:
        return [r for r in self.results if r.regression]

    @property
    def fixed_known(self) -> list[Result]:
        return [r for r in self.results if r.fixed_known]

    @property
    def errored(self) -> bool:
        return any(r.status == ERROR for r in self.results)


def internal_error(error: BaseException) -> str:
    """The reason of an ERROR result: attnspec's own exception, with where it was raised."""
    frame = traceback.extract_tb(error.__traceback__)[-1]
    return (f"attnspec itself failed: {type(error).__name__}: {error} (at "
            f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})")


def ratio_text(x: float) -> str:
    """A worst err/tol as every table shows it: three significant digits, or inf."""
    return "inf" if math.isinf(x) else f"{x:.3g}"


def finite_or_text(x: float):
    """JSON has no inf or NaN: such numbers are written as their text."""
    return x if math.isfinite(x) else str(x)
