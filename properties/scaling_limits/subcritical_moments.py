"""subcritical_output_moments: mean and covariance of the attention output below the critical scale.

Claim (docs/claims.md section 1, "Subcritical"; [D]): for beta n^(-2/(d-1)) -> 0 the output y (identity
values) is a local average around q with a deterministic bias and Gaussian fluctuations:

    E<q,y> = A_d(beta) - (R2/n)(A_d(2 beta) - A_d(beta)) + O(n^-2),  bias A_d - 1 ~ -(d-1)/(2 beta);
    each tangent coordinate: variance (R2/n) A_d(2 beta)/(2 beta) ~ 1/(2 beta n_eff), mean 0;
    along q: variance (R2/n)[E_2beta t^2 - 2 A(beta) A(2 beta) + A(beta)^2] ~ (d^2-1)/(16 beta^2 n_eff).

The reference is the exact finite-n oracle (finite_n.output_moments: E<q,y>, Var<q,y> and the
tangent variance, exactly at this n, no O(1/n_eff) truncation); the leading-order formulas of
oracles.scaling_limits.subcritical are reported beside it. Per case, four z-tests:

    mean along q    sample mean of <q,y> vs E<q,y>
    var along q     sample mean of (<q,y> - E<q,y>)^2 vs Var<q,y>
    tangent var     sample mean over contexts of (1/(d-1)) sum_j y_j^2 vs the tangent variance
    tangent mean    sample mean over contexts of (1/(d-1)) sum_j y_j vs 0

with the sample standard deviation. Coordinates are in the frame where q = e_1 (a user's kernel
is given a random query; its outputs are rotated back, sources.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from attnspec.oracles.scaling_limits import finite_n as FN
from attnspec.oracles.scaling_limits import partition as P
from attnspec.oracles.scaling_limits import subcritical as SUB

from attnspec.properties.engine.law import Law, Plan, case_seed
from attnspec.properties.engine.statistics import Measurement, z_measurement


@dataclass(frozen=True)
class SubcriticalCase:
    d: int
    beta: float
    n: int
    contexts: int


def _run(source, plan: Plan, numbers: dict) -> list[Measurement]:
    out: list[Measurement] = []
    for i, c in enumerate(plan.cases):
        y = source.draw(c.n, c.beta, d=c.d, contexts=c.contexts, seed=case_seed(plan, i),
                        need=("output",)).output
        ex = FN.output_moments(c.n, c.beta, c.d, backend="numpy")
        tag = f"d={c.d} beta={c.beta:g} n={c.n:.0e}"
        along, tangent = y[:, 0], y[:, 1:]
        out.append(z_measurement(f"{tag}: E<q,y>", along, ex["mean_along_q"]))
        out.append(z_measurement(f"{tag}: Var<q,y>", (along - ex["mean_along_q"]) ** 2, ex["var_along_q"]))
        out.append(z_measurement(f"{tag}: tangent variance", (tangent ** 2).mean(axis=1), ex["tangent_var"]))
        out.append(z_measurement(f"{tag}: tangent mean", tangent.mean(axis=1), 0.0))
        numbers.setdefault("cases", []).append({
            "d": c.d, "beta": c.beta, "n": c.n, "contexts": c.contexts,
            "n_eff": float(P.effective_sample_size(c.n, c.beta, c.d)),
            "bias_mc": float(1 - along.mean()), "bias_exact": ex["mean_deficit"],
            "bias_population": float(-SUB.deterministic_bias(c.beta, c.d)),
            "bias_asymptotic": float(-SUB.deterministic_bias_asymptotic(c.beta, c.d)),
            "var_along_q_mc": float(((along - ex["mean_along_q"]) ** 2).mean()),
            "var_along_q_exact": ex["var_along_q"],
            "var_along_q_leading": float(SUB.along_query_variance(c.n, c.beta, c.d)),
            "tangent_var_mc": float((tangent ** 2).mean()), "tangent_var_exact": ex["tangent_var"],
            "tangent_var_leading": float(SUB.tangent_variance(c.n, c.beta, c.d)),
        })
    return out


subcritical_output_moments = Law(
    name="subcritical_output_moments",
    claim="below the critical scale the output's mean along q and its along-q and tangent "
          "variances match the exact finite-n oracle",
    provenance="docs/claims.md section 1 [D]; oracles finite_n.output_moments (exact), subcritical (leading order, reported)",
    statistic="z of sample means (mean, variances along q and tangent)",
    plans={
        "ci": Plan((SubcriticalCase(3, 30.0, 20_000, 400), SubcriticalCase(8, 10.0, 10_000, 300)),
                   seed=7100, description="d = 3 (beta 30, n 2e4, n_eff 667), d = 8 (beta 10, n 1e4, "
                                          "n_eff 343); 400 / 300 contexts"),
        "thorough": Plan((SubcriticalCase(3, 30.0, 100_000, 4000), SubcriticalCase(8, 10.0, 100_000, 2000),
                      SubcriticalCase(16, 10.0, 100_000, 1000)), seed=7200,
                     description="n = 1e5; 4000 / 2000 / 1000 contexts at d = 3 / 8 / 16"),
    },
    kernel_plans={
        "ci": Plan((SubcriticalCase(3, 50.0, 100_000, 200), SubcriticalCase(8, 10.0, 10_000, 200)),
                   seed=7300, description="d = 3 (beta 50, n 1e5, n_eff 2000), d = 8 (beta 10, n 1e4, "
                                          "n_eff 343); 200 contexts"),
        "thorough": Plan((SubcriticalCase(3, 50.0, 100_000, 3000), SubcriticalCase(8, 10.0, 100_000, 1000)),
                     seed=7400, description="n = 1e5; 3000 / 1000 contexts at d = 3 / 8"),
    },
    run=_run,
    needs=frozenset({"output"}),
)
