"""Measure how close correct backward passes come to their gradient budgets, and how far the
subtle backward bugs exceed them. Writes the evidence table of docs/error-budget.md
"Gradients":

    .venv/bin/python tests/evidence/gradient_budget_evidence.py > /tmp/gradient_evidence.md

For each kernel, dtype, row length and logit scale: random normal q, k, v and dO (both signs),
and dO made orthogonal to the output row by row (where forming D_i cancels), Lq = 16,
D = Dv = 64, GQA with 2 query heads on one kv head; exact gradients from the oracle (tier 1 or
tier 2, oracles/attention/exact_gradients.py) and the largest |kernel - exact| / budget of dq,
dk and dv over all elements of all inputs. <= 1 is a pass.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from attnspec.kernels.registry import BUILTINS
from attnspec.kernels.spec import KernelSpec
from attnspec.oracles.attention.exact_gradients import exact_gradients
from attnspec.oracles.attention.gradient_budget import gradient_budget
from attnspec.properties.attention.backward_case import build_backward_case
from attnspec.properties.attention.calls import call_backward
from attnspec.properties.attention.conformance import precision_model
from attnspec.properties.attention.recipe import Recipe
from attnspec.properties.engine.invoker import Invoker

sys.path.insert(0, str(Path(__file__).parents[1] / "zoo"))
import buggy_backward_kernels as zoo  # noqa: E402

CORRECT = ["reference-dense", "reference-flash-backward", "sdpa-math", "sdpa-flash-cpu"]
BUGS = {"dq_accumulated_in_half": zoo.dq_accumulated_in_half,
        "delta_term_missing": zoo.delta_term_missing}
TENSORS = ("dq", "dk", "dv")


def ratios(kernel, spec: KernelSpec, dtype: str, kv_len: int, logit_scale: float, inputs: int,
           value_offset: float = 0.0) -> dict[str, float]:
    worst = dict.fromkeys(TENSORS, 0.0)
    for seed in range(inputs):
        recipe = Recipe(q_heads=2, kv_heads=1, q_len=16, kv_len=kv_len, head_dim=64,
                        value_dim=64, dtype=dtype, seed=seed, logit_scale=logit_scale,
                        value_offset=value_offset,
                        grad_out="orthogonal" if seed % 2 else "normal")
        case = build_backward_case(recipe, "cpu", spec.causal or "bottom_right")
        f = case.forward
        call = call_backward(Invoker(), kernel, f.q, f.k, f.v, f.kwargs, case.d_out, case.d_lse,
                             recipe.describe(), 600)
        problem = case.problem(spec.causal, call.d_lse)
        exact = exact_gradients(problem).tensors()
        budget = gradient_budget(problem, precision_model(spec, dtype))
        for name in TENSORS:
            got = call.gradients()[name].double().numpy()
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.abs(got - exact[name]) / budget.in_force(name)
            worst[name] = max(worst[name], float(np.nan_to_num(ratio, nan=np.inf).max()))
    return worst


def rows(name, kernel, spec, dtypes):
    for dtype in dtypes:
        for kv_len, inputs in ((64, 8), (1024, 2)):
            for logit_scale, offset in ((1.0, 0.0), (30.0, 0.0), (1.0, 3.0)):
                r = ratios(kernel, spec, dtype, kv_len, logit_scale, inputs, offset)
                regime = f"logits x{logit_scale:g}" + (f", v + {offset:g}" if offset else "")
                print(f"| {name} | {dtype} | {kv_len} | {regime} | "
                      + " | ".join(f"{r[t]:.3g}" for t in TENSORS) + " |", flush=True)


def main():
    print("| kernel | dtype | Lk | inputs | dq | dk | dv |")
    print("|---|---|---|---|---|---|---|")
    for name in CORRECT:
        kernel = BUILTINS[name].build()
        spec = KernelSpec.from_declaration(kernel.attnspec)
        rows(name, kernel, spec, spec.dtypes)
    for name, kernel in BUGS.items():
        spec = KernelSpec.from_declaration(kernel.attnspec)
        rows(name, kernel, spec, spec.dtypes)


if __name__ == "__main__":
    main()
