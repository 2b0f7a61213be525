"""critical_ipr_and_normaliser: E IPR and E S at the critical scale beta = gamma n^(2/(d-1)).

Claim (docs/claims.md section 1, "Critical"; [D]): at the critical scale the inverse participation
ratio IPR = sum_i w_i^2 and the normaliser S have non-degenerate laws; their means are given
exactly at every n by

    E S = n e^(-beta) Z(beta),  Var S = n e^(-2 beta) (Z(2 beta) - Z(beta)^2)
        (oracles.scaling_limits.partition.normaliser_mean / normaliser_variance; Z(beta) = E e^(beta<q,k>)),
    E IPR = finite_n.expected_ipr (exact finite-n quadrature),

with limits E S -> Gamma(a+1) C_d gamma^(-a) (a = (d-1)/2) and critical_poisson.expected_ipr,
reported beside them. S is in the oracles' normalisation: S = sum_i e^(-beta (1 - <q,k_i>)),
the weights' denominator relative to the top score beta (no 1/n). From the streaming kernel,
S = exp(log_normaliser); from an attention kernel that returns its log-sum-exp,
S = exp(lse - beta) (lse = log sum_i e^(beta <q,k_i>) = beta + log S), and
IPR = S(2 beta)/S(beta)^2 from a second call at 2 beta (sources.py).

Tests: z of the sample mean of IPR (sample standard deviation) and of S (the exact standard
deviation sqrt(Var S)) against the exact finite-n means.
"""

from __future__ import annotations

import math

from attnspec.oracles.scaling_limits import critical_poisson as CP
from attnspec.oracles.scaling_limits import finite_n as FN
from attnspec.oracles.scaling_limits import partition as P
from attnspec.oracles.scaling_limits import vectorized as V

from attnspec.properties.engine.law import Law, Plan
from attnspec.properties.engine.statistics import Measurement, z_measurement
from attnspec.properties.scaling_limits.critical_wmax import CriticalCase, critical_draws


def _run(source, plan: Plan, numbers: dict) -> list[Measurement]:
    out: list[Measurement] = []
    for c, beta, dr, tag in critical_draws(source, plan, ("ipr", "normaliser")):
        e_ipr = FN.expected_ipr(c.n, beta, c.d, backend="numpy")
        e_s = float(P.normaliser_mean(c.n, beta, c.d))
        sd_s = math.sqrt(float(P.normaliser_variance(c.n, beta, c.d)))
        out.append(z_measurement(f"{tag}: E IPR vs exact finite n", dr.ipr, e_ipr))
        out.append(z_measurement(f"{tag}: E S vs exact n e^-beta Z(beta) (exact sd)", dr.normaliser,
                                 e_s, sd=sd_s))
        numbers.setdefault("cases", []).append({
            "d": c.d, "gamma": c.gamma, "n": c.n, "beta": beta, "contexts": c.contexts,
            "mean_ipr": float(dr.ipr.mean()), "exact_ipr": e_ipr,
            "limit_ipr": float(CP.expected_ipr(c.d, c.gamma, backend="numpy")),
            "mean_S": float(dr.normaliser.mean()), "exact_S": e_s, "sd_S": sd_s,
            "limit_S": float(V.limit_mean_normaliser(c.d, c.gamma)),
        })
    return out


critical_ipr_and_normaliser = Law(
    name="critical_ipr_and_normaliser",
    claim="at beta = gamma n^(2/(d-1)), E IPR and E S (S = sum_i e^(-beta(1 - <q,k_i>))) match "
          "the exact finite-n oracle",
    provenance="docs/claims.md section 1 [D]; oracles partition (E S, Var S exact), finite_n (E IPR), "
               "critical_poisson (limits, reported)",
    statistic="z of sample means (IPR; S with its exact standard deviation)",
    plans={
        "ci": Plan((CriticalCase(3, 0.4, 10_000, 2000), CriticalCase(8, 4.895, 10_000, 2000)),
                   seed=5100, description="n = 1e4, 2000 contexts per d"),
        "thorough": Plan((CriticalCase(3, 0.4, 100_000, 20_000), CriticalCase(8, 4.895, 100_000, 5000),
                      CriticalCase(16, 14.92, 100_000, 5000)), seed=5200,
                     description="n = 1e5; 20000 contexts at d = 3, 5000 at d = 8, 16"),
    },
    kernel_plans={
        "ci": Plan((CriticalCase(3, 0.4, 20_000, 400),), seed=5300,
                   description="n = 2e4, 400 contexts, d = 3"),
        "thorough": Plan((CriticalCase(3, 0.4, 100_000, 4000), CriticalCase(8, 4.895, 10_000, 2000)),
                     seed=5400, description="n = 1e5 (d = 3), 1e4 (d = 8)"),
    },
    run=_run,
    needs=frozenset({"ipr", "normaliser"}),
)
