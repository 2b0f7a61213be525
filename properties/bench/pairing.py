"""The baseline's calls interleaved with the kernel's rounds, so that a ratio compares times
taken under the same conditions.

On a shared or throttled machine, what slows a call comes and goes over seconds; two entries
timed one after the other can see different machines, and their ratio moves with it (docs/
bench.md measures how much). The kernel's entry is therefore timed with pytest-benchmark's
``pedantic`` mode, with one call of the baseline, timed here by the same timer, as the untimed
setup of every round: round i of the kernel and call i of the baseline are neighbours in time,
and each statistic of the kernel's rounds is divided by the same statistic of these baseline
calls (ratios.py).

The number of rounds follows pytest-benchmark's own rule for its calibrated mode: enough
rounds to fill ``--benchmark-max-time``, at least ``--benchmark-min-rounds``, here counting a
round as one kernel call and one baseline call.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Timings:
    """Statistics of a list of call times, in seconds (the fields pytest-benchmark's Stats
    has, for ratios.ratios)."""

    min: float
    median: float
    mean: float
    max: float
    rounds: int

    @classmethod
    def of(cls, seconds: list[float]) -> "Timings":
        return cls(min(seconds), statistics.median(seconds), statistics.fmean(seconds),
                   max(seconds), len(seconds))


class PairedBaseline:
    """``setup`` for pytest-benchmark's pedantic mode: one timed baseline call per round."""

    def __init__(self, call: Callable, timer: Callable[[], float]):
        self.call = call
        self.timer = timer
        self.seconds: list[float] = []

    def setup(self) -> None:
        start = self.timer()
        self.call()
        self.seconds.append(self.timer() - start)

    def timings(self) -> Timings:
        return Timings.of(self.seconds)


def paired_rounds(round_seconds: float, max_time: float, min_rounds: int) -> int:
    """pytest-benchmark's rule: ceil(max_time / round time), at least ``min_rounds``."""
    if round_seconds <= 0:
        return min_rounds
    return max(min_rounds, math.ceil(max_time / round_seconds))
