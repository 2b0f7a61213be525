"""The catalogue of laws, a run over it, and its report (table and data)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from attnspec.properties.scaling_limits.base import Verdict
from attnspec.properties.scaling_limits.critical_moments import critical_ipr_and_normaliser
from attnspec.properties.scaling_limits.critical_wmax import critical_wmax_law
from attnspec.properties.scaling_limits.finite_input import finite_input_temperature_laws
from attnspec.properties.scaling_limits.subcritical_moments import subcritical_output_moments
from attnspec.properties.scaling_limits.supercritical import supercritical_one_minus_wmax
from attnspec.properties.scaling_limits.threshold_scaling import selectivity_threshold_scaling

LAWS = (
    critical_wmax_law,
    critical_ipr_and_normaliser,
    selectivity_threshold_scaling,
    subcritical_output_moments,
    supercritical_one_minus_wmax,
    finite_input_temperature_laws,
)
CATALOG = {law.name: law for law in LAWS}


@dataclass
class LawsReport:
    source: str
    size: str
    verdicts: list[Verdict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def violated(self) -> bool:
        return any(v.status == "VIOLATED" for v in self.verdicts)

    @property
    def errored(self) -> bool:
        return any(v.status == "error" for v in self.verdicts)

    def as_data(self) -> dict:
        return {"source": self.source, "size": self.size, "violated": self.violated,
                "errored": self.errored, "seconds": round(self.seconds, 3),
                "laws": [v.as_data() for v in self.verdicts]}


def check_laws(source=None, size: str = "ci", names=None, on_verdict=None) -> LawsReport:
    """Run the laws (all, or ``names``) on ``source`` (default: the streaming Monte Carlo kernel)."""
    from attnspec.properties.scaling_limits.sources import StreamingSource

    source = StreamingSource() if source is None else source
    chosen = LAWS if names is None else [CATALOG[n] for n in names]
    report = LawsReport(source.name, size)
    start = time.perf_counter()
    for law in chosen:
        verdict = law.check(source, size)
        report.verdicts.append(verdict)
        if on_verdict is not None:
            on_verdict(verdict)
    report.seconds = time.perf_counter() - start
    return report


def _alpha(a: float) -> str:
    return "0 (exact)" if a == 0 else f"{a:.0e}"


def render(report: LawsReport, verbose: bool = False) -> str:
    width = max([len(v.law) for v in report.verdicts] + [4])
    lines = [f"attnspec laws check  (source: {report.source}; size {report.size})", "",
             f"{'law':<{width}}  {'verdict':<14}  {'statistic vs threshold':<24}  {'N':>7}  "
             f"{'false-alarm':>11}  {'seed':>5}  {'seconds':>7}"]
    for v in report.verdicts:
        seed = "" if v.seed is None else str(v.seed)
        N = "-" if v.status == "not applicable" else str(v.contexts)
        lines.append(f"{v.law:<{width}}  {v.status:<14}  {v.headline():<24}  {N:>7}  "
                     f"{_alpha(v.alpha):>11}  {seed:>5}  {v.seconds:>7.1f}")
        if v.status in ("not applicable", "error") or (v.status == "VIOLATED" and not v.checks):
            lines.append(f"{'':<{width}}    {v.reason}")
        for c in v.checks:
            if verbose or not c.held:
                mark = "ok " if c.held else "FAIL"
                lines.append(f"{'':<{width}}    {mark} {c.name}: {c.describe()}")
    counts: dict[str, int] = {}
    for v in report.verdicts:
        counts[v.status] = counts.get(v.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    lines += ["", f"{summary}  ({report.seconds:.1f} s)",
              "N: contexts drawn (examples for the finite-input laws); false-alarm: the law's "
              "total, split over its tests (Bonferroni)"]
    return "\n".join(lines)
