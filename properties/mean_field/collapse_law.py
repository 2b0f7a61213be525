"""Law: the plain and logit-PE flows collapse every seeded start to one point.

Claim [L, Geshkovski et al. 2023 for plain (d >= 3, almost every start, SA and USA); D for
positional encoding in the logits, the paper's negative control: it still collapses]. Measured:
the diameter max_ij |x_i - x_j| at the horizon T, for every run, below 1e-6 + 64 delta.

Horizon [M]: at beta = 1, n = 8, d = 3 the reference's largest diameter over 8 seeds is 6e-16
by T = 50 (plain SA) and 2e-14 by T = 50 for logit_pe (gamma = 0.5, unit z in R^2); T = 50 leaves
eight decades below the threshold. Metastability (multi-cluster states that last for times
exponential in beta) is why beta is 1 here: at beta = 4, n = 12 some seeds still hold two
clusters at T = 1000 (docs/mean-field.md; tests/properties/mean_field, marked long).
Threshold [D]: at consensus the exact field vanishes and a kernel's error (at most delta per
unit value) can hold tokens apart only at distances where the contraction (rate >= 0.5,
measured) balances it, below 4 delta; 64 delta leaves a factor 16.
"""

from __future__ import annotations

import numpy as np

from attnspec.oracles.mean_field.diameter_bound import diameter

from attnspec.properties.engine.law import Law, Plan, case_seed
from attnspec.properties.engine.statistics import exact_measurement
from attnspec.properties.mean_field.flows import (FlowCase, keys, models, qk_max, run, starts,
                                                 supported_cases)


def run_collapse(source, plan: Plan, numbers: dict):
    out = []
    for index, case in supported_cases(source, plan, numbers):
        seed = case_seed(plan, index)
        kmodel, _ = models(case, seed)
        final = run(source, case, kmodel, starts(case, seed), record_every=case.steps).final.numpy()
        diam = diameter(final)
        delta = source.delta(keys(case), case.head_dim, case.beta, qk_max(case))
        key = f"{case.kind}_{case.normalisation}"
        numbers[key] = {"case": case.label(), "final_diameters": diam.tolist()}
        out.append(exact_measurement(f"{key}: diameter at T", float(diam.max()), 0.0,
                                     1e-6 + 64 * delta, absolute=True, note=case.label()))
    return out


def _cases(runs, horizon):
    return (FlowCase("plain", "SA", 8, 3, 1.0, runs, horizon, 0.25),
            FlowCase("logit_pe", "SA", 8, 3, 1.0, runs, horizon, 0.25, gamma=0.5),
            FlowCase("plain", "USA", 8, 3, 1.0, runs, horizon, 0.25))


PLANS = {"ci": Plan(_cases(8, 50.0)[:2], seed=32_000, description="plain and logit-PE SA x 8 runs, T = 50"),
         "thorough": Plan(_cases(64, 80.0), seed=32_500, description="3 flows x 64 runs, T = 80")}
PLANS["quick"] = Plan(_cases(4, 50.0)[:1], seed=32_000, description="plain SA, 4 runs, T = 50")

collapse = Law(
    name="collapse",
    claim="the plain and logit-PE flows bring every seeded start to one point (diameter < "
          "1e-6 + 64 delta at T = 50, beta = 1; SA, and plain USA too at thorough)",
    provenance="[L] Geshkovski et al. 2023; [D] logit PE (docs/claims.md section 3); horizon [M]",
    statistic="largest final diameter over the runs",
    plans=PLANS, kernel_plans=PLANS, run=run_collapse, needs=frozenset())
