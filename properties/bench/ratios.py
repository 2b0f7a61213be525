"""The ratio of a kernel's time to its baseline's, and the regression check on it.

For each case the kernel and SDPA's default backend are timed in the same run, one right after
the other; the ratio of a statistic (min, median, mean, max) of the kernel's rounds to the same
statistic of the baseline's cancels what slows both alike: a loaded or throttled machine, a
slower machine (the baseline's calls are interleaved with the kernel's rounds: pairing.py).

pytest-benchmark's ``--benchmark-compare-fail`` compares times, entry by entry. The ratio check
(``--ratio-fail``, pytest ``--attnspec-bench-ratio-fail``) compares these ratios with the ones
stored in the extra_info of the run named by ``--benchmark-compare``:

    FIELD:N%           flags each case whose ratio of FIELD grew by more than N percent
    geomean-FIELD:N%   flags the run when the geometric mean, over every case both runs have,
                       of (ratio now / ratio stored) exceeds 1 + N/100

The whole-run form averages out what moves one case at a time on a busy machine. docs/bench.md
gives the thresholds to use, from the measured run-to-run spread of each.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

FIELDS = ("min", "median", "mean", "max")
GEOMEAN = "geomean-"  # the prefix of a whole-run check: geomean-median:20%
_EXPRESSION = re.compile(r"^(?P<scope>geomean-)?(?P<field>[a-z]+):(?P<percent>[0-9]+(\.[0-9]+)?)%$")


def ratio_key(field: str) -> str:
    """The extra_info key that holds the ratio of ``field``."""
    return f"ratio_{field}"


def ratios(kernel_stats, baseline_stats) -> dict[str, float]:
    """{ratio_min: kernel min / baseline min, ...} for FIELDS, from two statistics objects
    (anything with min, median, mean, max attributes, in seconds)."""
    out = {}
    for field in FIELDS:
        base = getattr(baseline_stats, field)
        out[ratio_key(field)] = getattr(kernel_stats, field) / base if base > 0 else float("inf")
    return out


@dataclass(frozen=True)
class RatioCheck:
    """Fail when the ratio of ``field`` grew by over ``percent`` % against a stored run: in any
    one case, or (``whole_run``) in the geometric mean of the growth over every case the two
    runs share."""

    field: str
    percent: float
    whole_run: bool = False

    def __str__(self) -> str:
        return f"{GEOMEAN if self.whole_run else ''}{self.field}:{self.percent:g}%"

    def fails(self, growth_percent: float) -> bool:
        return growth_percent > self.percent


def parse_ratio_check(expression: str) -> RatioCheck:
    """``min:10%`` (each case) or ``geomean-median:20%`` (the whole run) -> a RatioCheck;
    ValueError with one line otherwise."""
    match = _EXPRESSION.match(expression)
    if not match or match["field"] not in FIELDS:
        raise ValueError(f"--ratio-fail takes FIELD:N% (each case) or geomean-FIELD:N% (the "
                         f"whole run), FIELD one of {', '.join(FIELDS)}, e.g. median:50% or "
                         f"geomean-median:25%; got {expression!r}")
    return RatioCheck(match["field"], float(match["percent"]), bool(match["scope"]))


@dataclass(frozen=True)
class Regression:
    """A case, or a whole run, whose ratio grew past a check's threshold."""

    name: str  # the case's id, or "N cases" for a whole-run check
    check: RatioCheck
    growth: float  # percent
    detail: str  # the two ratios, or how the growth was averaged
    source: str  # the stored run compared with

    def __str__(self) -> str:
        return (f"{self.name}: ratio of {self.check.field} {self.detail}, {self.growth:+.1f}% "
                f"(limit {self.check.percent:g}%) against {self.source}")


def compared_ratios(run: dict) -> dict[str, dict]:
    """{fullname: extra_info} of the kernel entries of one stored pytest-benchmark run."""
    return {b["fullname"]: b.get("extra_info", {}) for b in run.get("benchmarks", [])
            if b.get("extra_info", {}).get("role") == "kernel"}


def find_regressions(current: dict[str, tuple[str, dict]], runs: list[tuple[str, dict]],
                     checks: tuple[RatioCheck, ...]) -> list[Regression]:
    """The regressions of ``current`` ({fullname: (case id, ratios)}) against each stored run
    (label, pytest-benchmark JSON) under ``checks``; a case absent from a run, or stored there
    without a ratio, is not compared."""
    found = []
    for source, run in runs:
        stored = compared_ratios(run)
        for check in checks:
            key = ratio_key(check.field)
            pairs = [(name, now[key], stored[fullname][key])
                     for fullname, (name, now) in current.items()
                     if now.get(key) and stored.get(fullname, {}).get(key)]
            if check.whole_run and pairs:
                log_growth = sum(math.log(a / b) for _, a, b in pairs) / len(pairs)
                growth = (math.exp(log_growth) - 1.0) * 100.0
                if check.fails(growth):
                    found.append(Regression(f"{len(pairs)} cases", check, growth,
                                            "(geometric mean of the growth over the cases)",
                                            source))
            elif not check.whole_run:
                for name, now_ratio, before in pairs:
                    growth = (now_ratio / before - 1.0) * 100.0
                    if check.fails(growth):
                        found.append(Regression(name, check, growth,
                                                f"{before:.3f} -> {now_ratio:.3f}", source))
    return found
