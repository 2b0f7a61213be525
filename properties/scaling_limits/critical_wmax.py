"""critical_wmax_law: the law of the largest weight at the critical scale beta = gamma n^(2/(d-1)).

Claim (docs/claims.md section 1, "Critical"; [P] existence of the critical scale, [D] the laws): at
beta = gamma n^(2/(d-1)), W_max = max_i w_i has a non-degenerate law.

* d = 3: the whole distribution against the exact limit CDF P(W_max <= w) = 1 - F(1/w - 1), F the
  generalised Dickman GD(1/(2 gamma)) CDF (oracles.scaling_limits.wmax_d3.wmax_cdf_d3): a
  Kolmogorov-Smirnov distance sup_(w >= 0.34) |F_N(w) - F(w)| (F evaluated exactly at every sample;
  closed form on [1/2, 1], delay equation on [0.34, 1/2]; P(W_max < 0.34) is 1.5% at gamma = 1 and
  enters through F(0.34)), with the DKW-Massart critical value sqrt(ln(2m/alpha)/(2N)); plus a
  z-test of E W_max against the exact limit mean.
  The finite-n law differs from the limit by O(1/n) at d = 3: with uniform deficits the scaled
  deficits n u_(k) equal the limit's Poisson points times lambda = n/Gamma_(n+1) (Gamma_(n+1) a
  Gamma(n+1, 1) arrival time), so the finite-n W_max is the limit W_max at gamma lambda, and
  E lambda = 1 + O(1/n), Var lambda = O(1/n). The law checks deterministically that the exact
  finite-n moments E W_max and E W_max^2 (oracles.scaling_limits.finite_n) are within 1e-3 of the
  limit's (measured: 5e-6 at n = 1e4), far below the KS resolution (>= 0.02 at every size here).
* d >= 8: the limit converges like n^(-2/(d-1)) (5% off at n = 1e4, d = 8), so the reference is
  the exact finite-n law: z-tests of E W_max and E W_max^2 (finite_n.expected_wmax, moments 1, 2).

On a user's kernel W_max is read through the values (1 on the nearest key, 0 elsewhere), so the
same tests apply to the kernel's own weights (sources.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from attnspec.oracles.scaling_limits import finite_n as FN
from attnspec.oracles.scaling_limits import vectorized as V
from attnspec.oracles.scaling_limits import wmax_d3 as W3

from attnspec.properties.engine.law import Law, Plan, case_seed
from attnspec.properties.engine.statistics import Measurement, exact_measurement, ks_distance, z_measurement

KS_LOWER = 0.34  # the KS sup runs over w >= 0.34, where the exact CDF is cheap (r = 1/w - 1 < 2)
FINITE_N_GAP = 1e-3  # allowed |finite-n moment - limit moment| at d = 3


@dataclass(frozen=True)
class CriticalCase:
    d: int
    gamma: float
    n: int
    contexts: int


@lru_cache(maxsize=256)
def exact_wmax_moment(n: int, beta: float, d: int, moment: int = 1) -> float:
    """Exact finite-n E W_max^moment (float64 engine), cached."""
    return FN.expected_wmax(n, beta, d, moment=moment, backend="numpy")


def critical_draws(source, plan: Plan, need):
    """For plans of cases with (d, gamma, n, contexts): yield (case, beta, draws, tag) with
    beta = gamma n^(2/(d-1)) and the job's seed."""
    for i, c in enumerate(plan.cases):
        beta = float(V.critical_beta(c.n, c.d, c.gamma))
        draws = source.draw(c.n, beta, d=c.d, contexts=c.contexts, seed=case_seed(plan, i), need=need)
        yield c, beta, draws, f"d={c.d} gamma={c.gamma:g} n={c.n:.0e}"


def _d3_cdf(gamma: float):
    def F(w: float) -> float:
        return float(W3.wmax_cdf_d3(w, gamma, dps=15))
    return F


def _run(source, plan: Plan, numbers: dict) -> list[Measurement]:
    out: list[Measurement] = []
    for c, beta, draws, tag in critical_draws(source, plan, ("w_max",)):
        w = draws.w_max
        row = {"d": c.d, "gamma": c.gamma, "n": c.n, "beta": beta, "contexts": c.contexts,
               "mean_w_max": float(w.mean()), "mean_w_max2": float((w * w).mean())}
        if c.d == 3:
            lim1 = float(V.expected_wmax_d3(c.gamma))
            lim2 = float(V.expected_wmax_d3(c.gamma, moment=2))
            fin1, fin2 = exact_wmax_moment(c.n, beta, 3, 1), exact_wmax_moment(c.n, beta, 3, 2)
            out.append(Measurement(f"{tag}: law of W_max vs exact limit CDF (w >= {KS_LOWER})", "ks",
                                   ks_distance(w, _d3_cdf(c.gamma), lower=KS_LOWER),
                                   samples=len(w)))
            out.append(z_measurement(f"{tag}: E W_max vs limit", w, lim1,
                                     note=f"finite-n mean {fin1:.8f}"))
            out.append(exact_measurement(f"{tag}: finite-n E W_max within {FINITE_N_GAP:g} of the limit",
                                         fin1, lim1, FINITE_N_GAP, absolute=True))
            out.append(exact_measurement(f"{tag}: finite-n E W_max^2 within {FINITE_N_GAP:g} of the limit",
                                         fin2, lim2, FINITE_N_GAP, absolute=True))
            row.update(limit_mean=lim1, limit_second_moment=lim2, exact_mean=fin1, exact_second_moment=fin2)
        else:
            fin1, fin2 = exact_wmax_moment(c.n, beta, c.d, 1), exact_wmax_moment(c.n, beta, c.d, 2)
            out.append(z_measurement(f"{tag}: E W_max vs exact finite n", w, fin1))
            out.append(z_measurement(f"{tag}: E W_max^2 vs exact finite n", w * w, fin2))
            row.update(exact_mean=fin1, exact_second_moment=fin2)
        numbers.setdefault("cases", []).append(row)
    return out


critical_wmax_law = Law(
    name="critical_wmax_law",
    claim="at beta = gamma n^(2/(d-1)) the law of W_max matches the oracle: the exact limit CDF "
          "at d = 3 (KS), the exact finite-n E W_max and E W_max^2 at d >= 8",
    provenance="docs/claims.md section 1 (Bruno, Chen, Lin, Polyanskiy, Rigollet 2026) [P] scale, [D] laws; "
               "oracles wmax_d3 (generalised Dickman), finite_n",
    statistic="KS distance (d = 3), z of sample means (E W_max, E W_max^2)",
    plans={
        "ci": Plan((CriticalCase(3, 1.0, 10_000, 2000), CriticalCase(8, 4.895, 10_000, 2000),
                    CriticalCase(16, 14.92, 10_000, 2000)), seed=4100,
                   description="n = 1e4, 2000 contexts per d"),
        "thorough": Plan((CriticalCase(3, 1.0, 100_000, 20_000), CriticalCase(8, 4.895, 100_000, 5000),
                      CriticalCase(16, 14.92, 100_000, 5000)), seed=4200,
                     description="n = 1e5; 20000 contexts at d = 3, 5000 at d = 8, 16"),
    },
    kernel_plans={
        "ci": Plan((CriticalCase(3, 1.0, 100_000, 300), CriticalCase(8, 4.895, 10_000, 300)),
                   seed=4300, description="n = 1e5 (d = 3) and 1e4 (d = 8), 300 contexts each"),
        "thorough": Plan((CriticalCase(3, 1.0, 100_000, 4000), CriticalCase(8, 4.895, 100_000, 1000),
                      CriticalCase(16, 14.92, 10_000, 2000)), seed=4400,
                     description="n = 1e5 (d = 3, 8) and 1e4 (d = 16)"),
    },
    run=_run,
    needs=frozenset({"w_max"}),
)
