"""The ratio table printed at the end of a bench run, after pytest-benchmark's own tables.

One line per case whose kernel was timed with its paired baseline calls (pairing.py): the min
time of each, and the ratios of their min and median (kernel / baseline: 2.0 means the kernel
takes twice SDPA's time); then the skipped cases by reason, and the ratio regressions when
``--ratio-fail`` found any.
"""

from __future__ import annotations

from collections import Counter

from attnspec.properties.bench.baseline import DESCRIPTION
from attnspec.properties.bench.session import BenchSession


def _time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.4g} {unit}"
    return f"{seconds / 1e-9:.4g} ns"


def render(session: BenchSession) -> list[str]:
    """The lines of the table (no trailing newlines)."""
    info = session.machine_info()
    lines = [f"{session.selector} / {DESCRIPTION} on {session.device} "
             f"(torch {info['torch']}, {info['torch_threads']} threads"
             + (f", {info['device_name']}" if "device_name" in info else "") + "); "
             f"longest prefill {session.caps['prefill']}, longest decode cache "
             f"{session.caps['decode']}"]
    rows = [("case", "kernel min", "baseline min", "ratio min", "ratio median")]
    for m in session.measured:
        rows.append((m.case.id, _time(m.kernel.min), _time(m.baseline.min),
                     f"{m.ratios['ratio_min']:.3f}", f"{m.ratios['ratio_median']:.3f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    skipped = Counter(reason for _, reason in session.cases if reason is not None)
    if skipped:
        lines.append(f"skipped: {sum(skipped.values())} cases, by reason:")
        lines.extend(f"  {n} x {reason}" for reason, n in sorted(skipped.items()))
    if session.regressions:
        lines.append(f"the ratio to the baseline has regressed ({len(session.regressions)}):")
        lines.extend(f"  {r}" for r in session.regressions)
    return lines
