"""What a statistical law is, how its tests are thresholded, and what a check returns.

A Law names one claim about attention over long random contexts (claims.md section 1), its
provenance, and a sampling plan per size ("ci": seconds, fixed seed; "long": minutes). Its
``run`` draws contexts from a source (the streaming Monte Carlo kernel, or a user's attention
kernel fed exactly sampled keys, sources.py), compares them with the oracles and returns
measurements; this module turns them into tests at a stated false-alarm rate:

* the law's false-alarm rate ``alpha`` (1e-6 by default) is split evenly over its m statistical
  tests (Bonferroni), so the probability that a correct kernel fails the law is at most alpha
  (up to the normal approximation of the z-tests);
* z-test of a sample mean against an exact expectation: two-sided, |z| < the normal quantile
  at alpha/(2m) (4.89 for m = 1, 5.16 for m = 4, 5.29 for m = 8), normal approximation (sample
  means of at least a few hundred independent contexts of statistics that are bounded or have
  all moments);
* Kolmogorov-Smirnov distance to an exact CDF: sup |F_N - F| < sqrt(ln(2m/alpha)/(2N)), the
  Dvoretzky-Kiefer-Wolfowitz inequality with Massart's constant, valid for every N when F is
  continuous; a sup over a subset of the line is at most the full sup, so the bound holds for a
  restricted sup too;
* deterministic (oracle-only) checks: an error (relative, or absolute where stated) below a
  stated tolerance; they use no randomness and no share of alpha.

Every sampling job of a plan has a fixed seed (``case_seed``: the plan's seed + 1009 x the job's
index), so a run is reproducible.
"""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from scipy.stats import norm

ALPHA = 1e-6
SIZES = ("ci", "long")


def z_threshold(alpha: float, tests: int = 1) -> float:
    """Two-sided normal critical value at alpha / tests (4.89 for alpha = 1e-6, one test)."""
    return float(norm.isf(alpha / (2 * tests)))


def ks_threshold(alpha: float, samples: int, tests: int = 1) -> float:
    """DKW-Massart: P(sup |F_N - F| > eps) <= 2 exp(-2 N eps^2); eps at alpha / tests."""
    return math.sqrt(math.log(2 * tests / alpha) / (2 * samples))


def ks_distance(samples: np.ndarray, cdf: Callable[[float], float], lower: float = -math.inf) -> float:
    """sup over w >= lower of |F_N(w) - F(w)| for the empirical CDF F_N of ``samples`` and a
    continuous ``cdf`` evaluated exactly at each sample point >= lower (and at lower)."""
    x = np.sort(np.asarray(samples, float))
    N = len(x)
    d = 0.0
    first = int(np.searchsorted(x, lower, side="right"))  # samples <= lower
    if math.isfinite(lower):
        d = abs(first / N - cdf(lower))
    for i in range(first, N):
        F = cdf(float(x[i]))
        d = max(d, (i + 1) / N - F, F - i / N)
    return d


# ------------------------------------------------------------------------------ measurements

@dataclass
class Measurement:
    """One test of a law, before thresholds: ``kind`` is "z" (a sample mean ``measured`` with
    standard error ``se`` against the exact ``reference``), "ks" (``measured`` is the KS distance
    of ``samples`` draws) or "exact" (relative error ``measured`` vs ``reference`` against the
    stated ``tolerance``, no randomness)."""

    name: str
    kind: str
    measured: float
    reference: float = math.nan
    se: float = math.nan
    samples: int = 0
    tolerance: float = math.nan
    note: str = ""
    value: float = math.nan  # "exact": the value compared with ``reference``


def z_measurement(name: str, x, reference: float, sd: float | None = None, note: str = "") -> Measurement:
    """Sample mean of ``x`` against ``reference``; se from the sample (or the known ``sd``)."""
    x = np.asarray(x, float)
    n = len(x)
    s = float(np.std(x, ddof=1)) if sd is None else float(sd)
    return Measurement(name, "z", float(np.mean(x)), float(reference), s / math.sqrt(n), n, note=note)


def exact_measurement(name: str, value: float, reference: float, tolerance: float,
                      note: str = "", absolute: bool = False) -> Measurement:
    """Deterministic: |value / reference - 1| < tolerance (``absolute``: |value - reference|)."""
    err = abs(value - reference) if absolute else abs(value / reference - 1)
    return Measurement(name, "exact", float(err), float(reference), tolerance=float(tolerance),
                       note=note, value=float(value))


@dataclass
class Check:
    """A thresholded test: ``statistic`` (|z|, KS distance or relative error) against
    ``threshold``; holds when statistic < threshold (a NaN statistic never holds)."""

    name: str
    kind: str
    statistic: float
    threshold: float
    measured: float
    reference: float
    se: float
    samples: int
    note: str = ""

    @property
    def held(self) -> bool:
        return bool(self.statistic < self.threshold)

    @property
    def ratio(self) -> float:
        if not math.isfinite(self.statistic):
            return math.inf
        if self.threshold <= 0:
            return math.inf if self.statistic > 0 else 0.0
        return self.statistic / self.threshold

    def describe(self) -> str:
        if self.kind == "z":
            z = (self.measured - self.reference) / self.se if self.se > 0 else math.nan
            text = (f"{self.measured:.6g} +- {self.se:.2g} vs {self.reference:.6g}: "
                    f"z = {z:+.2f} (|z| < {self.threshold:.2f} to hold), N = {self.samples}")
        elif self.kind == "ks":
            text = (f"KS distance {self.statistic:.4f} {'<' if self.held else '>='} {self.threshold:.4f} "
                    f"(DKW at its share of alpha), N = {self.samples}")
        elif self.kind == "exact":
            text = (f"error {self.statistic:.3g} {'<' if self.held else '>='} {self.threshold:.3g} "
                    f"(value {self.measured:.8g}, reference {self.reference:.8g})")
        else:
            text = (f"worst error/tolerance {self.statistic:.3g} over {self.samples} examples")
        return text + (f"; {self.note}" if self.note else "")

    def as_data(self) -> dict:
        return {"name": self.name, "kind": self.kind, "statistic": _num(self.statistic),
                "threshold": _num(self.threshold), "held": self.held, "measured": _num(self.measured),
                "reference": _num(self.reference), "se": _num(self.se), "samples": self.samples,
                "note": self.note}


def _num(x: float):
    return x if math.isfinite(x) else str(x)


def thresholded(measurements: list[Measurement], alpha: float) -> list[Check]:
    """Apply the Bonferroni split of ``alpha`` over the statistical tests of one law."""
    m = max(1, sum(1 for x in measurements if x.kind in ("z", "ks")))
    zc = z_threshold(alpha, m)
    out = []
    for x in measurements:
        if x.kind == "z":
            z = (x.measured - x.reference) / x.se if x.se > 0 else math.inf
            stat = abs(z) if math.isfinite(z) else math.inf
            out.append(Check(x.name, "z", stat, zc, x.measured, x.reference, x.se, x.samples, x.note))
        elif x.kind == "ks":
            stat = x.measured if math.isfinite(x.measured) else math.inf
            out.append(Check(x.name, "ks", stat, ks_threshold(alpha, x.samples, m), x.measured,
                             math.nan, math.nan, x.samples, x.note))
        elif x.kind == "exact":
            stat = x.measured if math.isfinite(x.measured) else math.inf
            out.append(Check(x.name, "exact", stat, x.tolerance, x.value, x.reference, math.nan, 0,
                             x.note))
        else:
            raise ValueError(f"unknown measurement kind {x.kind!r}")
    return out


# ------------------------------------------------------------------------------ laws

@dataclass(frozen=True)
class Plan:
    """A law's sampling plan at one size: law-specific ``cases`` (frozen dataclasses with a
    ``contexts`` count each, or a ``total_contexts``), a base ``seed``, and a description."""

    cases: tuple
    seed: int
    description: str = ""

    @property
    def contexts(self) -> int:
        return int(sum(getattr(c, "total_contexts", getattr(c, "contexts", 0)) for c in self.cases))


class KernelCallError(Exception):
    """The kernel under test raised, hung or returned something malformed or non-finite."""


@dataclass
class Verdict:
    """The outcome of one law on one source at one size."""

    law: str
    claim: str
    status: str  # "held", "VIOLATED", "not applicable", "error"
    source: str
    size: str
    alpha: float
    seed: int | None
    contexts: int
    checks: list[Check] = field(default_factory=list)
    reason: str = ""
    seconds: float = 0.0
    numbers: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("held", "not applicable")

    @property
    def worst(self) -> Check | None:
        """The failing check furthest over its threshold; when all hold, the statistical test
        (z or KS) closest to its threshold (the oracle-only checks are shown in the details)."""
        if not self.checks:
            return None
        pool = ([c for c in self.checks if not c.held]
                or [c for c in self.checks if c.kind in ("z", "ks")] or self.checks)
        return max(pool, key=lambda c: c.ratio)

    def headline(self) -> str:
        """The worst check as 'statistic vs threshold'."""
        w = self.worst
        if w is None:
            return ""
        label = {"z": "|z|", "ks": "KS", "exact": "err", "budget": "err/tol"}[w.kind]
        return f"{label} {w.statistic:.3g} {'<' if w.held else '>='} {w.threshold:.3g}"

    def as_data(self) -> dict:
        return {"law": self.law, "claim": self.claim, "status": self.status, "source": self.source,
                "size": self.size, "false_alarm": self.alpha, "seed": self.seed,
                "contexts": self.contexts, "seconds": round(self.seconds, 3), "reason": self.reason,
                "checks": [c.as_data() for c in self.checks], "numbers": self.numbers}


@dataclass(frozen=True)
class Law:
    """A statistical law: ``run(source, plan, numbers) -> [Measurement]`` draws from the source
    and measures; ``needs`` are the per-context quantities it reads (sources.QUANTITIES)."""

    name: str
    claim: str
    provenance: str
    statistic: str  # what is measured, in words
    sizes: dict  # size -> Plan for the streaming Monte Carlo kernel
    kernel_sizes: dict  # size -> Plan for a user's attention kernel
    run: Callable[[Any, Plan, dict], list[Measurement]]
    needs: frozenset
    alpha: float = ALPHA

    def plan(self, source, size: str = "ci") -> Plan:
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}; choose from {', '.join(SIZES)}")
        return (self.kernel_sizes if source.is_attention_kernel else self.sizes)[size]

    def applies(self, source, size: str = "ci", plan: Plan | None = None) -> str | None:
        """None, or why this law cannot be checked honestly on ``source``."""
        plan = plan or self.plan(source, size)
        return source.unsupported(self.needs, dimensions_of(plan))

    def check(self, source=None, size: str = "ci", plan: Plan | None = None) -> Verdict:
        """Run the law on ``source`` (default: the streaming Monte Carlo kernel) with the plan
        of ``size``, or with an explicit ``plan`` (its cases must be the law's case type)."""
        if source is None:
            from attnspec.properties.scaling_limits.sources import StreamingSource

            source = StreamingSource()
        default = self.plan(source, size)
        plan = plan or default
        verdict = Verdict(self.name, self.claim, "held", source.name,
                          size if plan == default else "custom", self.alpha, plan.seed, plan.contexts)
        reason = self.applies(source, size, plan)
        if reason:
            verdict.status, verdict.reason = "not applicable", reason
            return verdict
        start = time.perf_counter()
        try:
            measurements = self.run(source, plan, verdict.numbers)
        except KernelCallError as failure:
            verdict.status, verdict.reason = "VIOLATED", f"kernel failure: {failure}"
        except Exception as error:  # noqa: BLE001 - a bug in attnspec, reported as such
            frame = traceback.extract_tb(error.__traceback__)[-1]
            verdict.status = "error"
            verdict.reason = (f"{type(error).__name__}: {error} (at "
                              f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})")
        else:
            verdict.checks = thresholded(measurements, self.alpha)
            verdict.status = "held" if all(c.held for c in verdict.checks) else "VIOLATED"
            failed = [c for c in verdict.checks if not c.held]
            if failed:
                verdict.reason = f"{failed[0].name}: {failed[0].describe()}"
        verdict.seconds = time.perf_counter() - start
        return verdict


def dimensions_of(plan: Plan) -> tuple[int, ...]:
    """The sphere dimensions d a plan samples (every case has a ``d``)."""
    return tuple(sorted({c.d for c in plan.cases}))


def case_seed(plan: Plan, index: int) -> int:
    """Seed of the ``index``-th sampling job of a plan (distinct, reproducible streams)."""
    return plan.seed + 1009 * index
