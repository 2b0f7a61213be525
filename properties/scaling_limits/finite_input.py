"""finite_input_temperature_laws: the temperature laws that hold for every finite score row.

Claim (claims.md section 0, [D], verified there over 2000 rows x 401 betas): for any finite row s
and w(beta) = softmax(beta s), the max weight (and the top-k mass) is non-decreasing in beta and
the entropy is non-increasing. These are properties of the front door already
(properties/attention/forward/temperature.py: ``max_weight_nondecreasing_in_inverse_temperature`` and
``entropy_nonincreasing_in_inverse_temperature``); this entry runs those two properties by name
through the same runner as ``attnspec check`` (hypothesis, derandomized at the "ci" profile; the
"thorough" profile for size "long") and reports them beside the statistical laws. Nothing is
reimplemented here.

They are deterministic properties with error-budget tolerances (false-alarm rate 0, not a
statistical test), and they apply to attention kernels only: the streaming Monte Carlo kernel
returns statistics of random contexts, not attention outputs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from attnspec.properties.scaling_limits.base import Check, Verdict

PROPERTIES = ("max_weight_nondecreasing_in_inverse_temperature",
              "entropy_nonincreasing_in_inverse_temperature")
PROFILE_FOR_SIZE = {"ci": "ci", "long": "thorough"}


@dataclass(frozen=True)
class PropertyReference:
    """A law that is an existing ``attnspec check`` property (or several), run by name."""

    name: str
    claim: str
    provenance: str
    properties: tuple[str, ...]
    statistic: str = "worst error / tolerance over the examples (holds <= 1)"
    alpha: float = 0.0

    def applies(self, source, size: str = "ci") -> str | None:
        if source is None or not source.is_attention_kernel:
            return ("a property of attention kernels (the streaming Monte Carlo kernel returns "
                    "statistics, not attention outputs); run with --kernel SELECTOR")
        return None

    def check(self, source=None, size: str = "ci") -> Verdict:
        from attnspec.properties.attention.profiles import PROFILES
        from attnspec.properties.engine.driver import run_check

        profile = PROFILES[PROFILE_FOR_SIZE[size]]
        name = getattr(source, "name", "streaming Monte Carlo")
        verdict = Verdict(self.name, self.claim, "held", name, size, self.alpha, None, 0)
        reason = self.applies(source, size)
        if reason:
            verdict.status, verdict.reason = "not applicable", reason
            return verdict
        start = time.perf_counter()
        report = run_check(source.subject, profile, list(self.properties))
        for r in report.results:
            ratio = r.worst.outcome.ratio if r.worst is not None else 0.0
            verdict.checks.append(Check(r.name, "budget", ratio, 1.0, ratio, 1.0, float("nan"),
                                        r.examples, r.reason or (r.worst.outcome.detail if r.worst else "")))
            verdict.contexts += r.examples
        statuses = {r.status for r in report.results}
        if "error" in statuses:
            verdict.status = "error"
        elif statuses <= {"held", "not applicable"}:
            verdict.status = "held" if "held" in statuses else "not applicable"
        else:
            verdict.status = "VIOLATED"
        bad = [r for r in report.results if r.status not in ("held",)]
        if bad:
            verdict.reason = f"{bad[0].name}: {bad[0].status} {bad[0].reason}".strip()
        verdict.numbers = {"profile": profile.name, "properties": list(self.properties)}
        verdict.seconds = time.perf_counter() - start
        return verdict


finite_input_temperature_laws = PropertyReference(
    name="finite_input_temperature_laws",
    claim="for any finite score row the max weight and top-k mass are non-decreasing and the "
          "entropy is non-increasing in the inverse temperature (the attnspec check properties)",
    provenance="claims.md section 0 [D]; properties/attention/forward/temperature.py",
    properties=PROPERTIES,
)
