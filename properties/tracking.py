"""Regression tracking for a run: known failures and a baseline, read from the run options.

The CLI and the pytest plugin both build one Tracking before any property runs, so that a bad
known-failures file or a baseline made another way is refused at once (a one-line usage error,
exit 2) rather than after minutes of checks; then ``apply`` marks each result as it comes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from attnspec.properties.engine.baseline import (Baseline, compare_result, load_baseline,
                                                 refuse_mismatch)
from attnspec.properties.engine.known_failures import (KnownFailure, apply_known_failures,
                                                       load_known_failures)
from attnspec.properties.engine.results import Result
from attnspec.properties.engine.suite import RunOptions


@dataclass
class Tracking:
    selector: str
    name: str
    max_growth: float
    known: list[KnownFailure] = field(default_factory=list)
    baseline: Baseline | None = None

    @classmethod
    def open(cls, options: RunOptions, header: dict) -> "Tracking":
        """From the options; ``header`` is the report data this run will write (render.py's
        report_header), which a baseline must match."""
        from attnspec.properties.suites import SUITES

        subject = header["subject"]
        tracking = cls(subject.get("selector", ""), subject.get("name", ""), options.max_growth)
        if options.known_failures:
            claims = {(s.name, n) for s in SUITES for n, _ in s.claims()}
            tracking.known = load_known_failures(options.known_failures, claims)
        if options.baseline:
            tracking.baseline = load_baseline(options.baseline)
            refuse_mismatch(tracking.baseline.data, header, options.baseline)
        return tracking

    def apply(self, result: Result) -> None:
        apply_known_failures(result, self.selector, self.name, self.known)
        if self.baseline is not None:
            compare_result(result, self.baseline, self.max_growth)
