"""Statistical tests at a stated false-alarm rate, for laws that hold in distribution.

A law's measurements become tests here (``thresholded``):

* the law's false-alarm rate alpha is split evenly over its m statistical tests (Bonferroni),
  so the probability that a correct subject fails the law is at most alpha (up to the normal
  approximation of the z-tests);
* z-test of a sample mean against an exact expectation: two-sided, |z| < the normal quantile
  at alpha/(2m) (4.89 for m = 1, 5.16 for m = 4, 5.29 for m = 8 at alpha = 1e-6), normal
  approximation (sample means of at least a few hundred independent draws of statistics that
  are bounded or have all moments);
* Kolmogorov-Smirnov distance to an exact CDF: sup |F_N - F| < sqrt(ln(2m/alpha)/(2N)), the
  Dvoretzky-Kiefer-Wolfowitz inequality with Massart's constant, valid for every N when F is
  continuous; a sup over a subset of the line is at most the full sup, so the bound holds for a
  restricted sup too;
* deterministic (oracle-only) checks: an error (relative, or absolute where stated) below a
  stated tolerance; they use no randomness and no share of alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import ndtri

from attnspec.properties.engine.ratio import error_ratio


def z_threshold(alpha: float, tests: int = 1) -> float:
    """Two-sided normal critical value at alpha / tests (4.89 for alpha = 1e-6, one test): the
    upper alpha / (2 tests) quantile, -Phi^-1(alpha / (2 tests)), accurate for tiny alpha."""
    return float(-ndtri(alpha / (2 * tests)))


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
    """A thresholded test: ``statistic`` (|z|, KS distance, relative error, or a property's
    worst error / tolerance) against ``threshold``; holds when statistic < threshold (a NaN
    statistic never holds)."""

    name: str
    kind: str  # "z", "ks", "exact" or "budget"
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
        return float(error_ratio(self.statistic, self.threshold))

    def headline(self) -> str:
        """'statistic vs threshold', e.g. '|z| 1.2 < 5.16'."""
        label = {"z": "|z|", "ks": "KS", "exact": "err", "budget": "err/tol"}[self.kind]
        return f"{label} {self.statistic:.3g} {'<' if self.held else '>='} {self.threshold:.3g}"

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
