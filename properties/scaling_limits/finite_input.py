"""finite_input_temperature_laws: the temperature laws that hold for every finite score row.

Claim (docs/claims.md section 0, [D], verified there over 2000 rows x 401 betas): for any
finite row s and w(beta) = softmax(beta s), the max weight (and the top-k mass) is
non-decreasing in beta and the entropy is non-increasing. These are properties of the contract
suite already (properties/attention/forward/temperature.py:
``max_weight_nondecreasing_in_inverse_temperature`` and
``entropy_nonincreasing_in_inverse_temperature``); this entry runs those two properties by name
through the contract suite (hypothesis, derandomized at the ci effort; thorough at thorough)
and reports them beside the statistical laws. Nothing is reimplemented here.

They are deterministic properties with error-budget tolerances (false-alarm rate 0, not a
statistical test), and they apply to attention kernels only: the streaming Monte Carlo kernel
returns statistics of random contexts, not attention outputs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from attnspec.properties.engine.results import ERROR, HELD, NOT_APPLICABLE, VIOLATED, Result
from attnspec.properties.engine.statistics import Check

PROPERTIES = ("max_weight_nondecreasing_in_inverse_temperature",
              "entropy_nonincreasing_in_inverse_temperature")


@dataclass(frozen=True)
class PropertyReference:
    """A law that is a property of the contract suite (or several), run by name."""

    name: str
    claim: str
    provenance: str
    properties: tuple[str, ...]
    statistic: str = "worst error / tolerance over the examples (holds <= 1)"
    alpha: float = 0.0

    def check(self, source, effort: str = "ci", suite: str = "", seed: int | None = None) -> Result:
        from attnspec.properties.attention.suite import CONTRACT

        result = Result(suite, self.name, self.claim, HELD, false_alarm=self.alpha)
        if not source.is_kernel:
            result.status = NOT_APPLICABLE
            result.reason = ("a property of attention kernels (the streaming Monte Carlo kernel "
                             "returns statistics, not attention outputs); run with --kernel "
                             "SELECTOR")
            return result
        start = time.perf_counter()
        session = CONTRACT.open(source.subject, effort, seed=seed)  # --seed: their draws too
        found = [session.run(name) for name in self.properties]
        for r in found:
            ratio = r.ratio
            result.checks.append(Check(r.name, "budget", ratio, 1.0, ratio, 1.0, float("nan"),
                                       r.examples, r.reason or (r.worst.detail if r.worst else "")))
            result.examples += r.examples
        statuses = {r.status for r in found}
        if ERROR in statuses:
            result.status = ERROR
        elif statuses <= {HELD, NOT_APPLICABLE}:
            result.status = HELD if HELD in statuses else NOT_APPLICABLE
        else:
            result.status = VIOLATED
        bad = [r for r in found if r.status != HELD]
        if bad:
            result.reason = f"{bad[0].name}: {bad[0].status} {bad[0].reason}".strip()
        worst = max(found, key=lambda r: r.ratio)
        result.worst = worst.worst
        result.numbers = {"effort": effort, "properties": list(self.properties)}
        result.seconds = time.perf_counter() - start
        return result


finite_input_temperature_laws = PropertyReference(
    name="finite_input_temperature_laws",
    claim="for any finite score row the max weight and top-k mass are non-decreasing and the "
          "entropy is non-increasing in the inverse temperature (the attnspec check properties)",
    provenance="docs/claims.md section 0 [D]; properties/attention/forward/temperature.py",
    properties=PROPERTIES,
)
