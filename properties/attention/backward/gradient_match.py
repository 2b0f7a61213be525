"""The kernel's dq, dk, dv against the exact gradients (docs/kernel-contract.md "Gradients").

Each tensor is held to its derived budget (oracles/attention/gradient_budget.py) and reported
on its own: the worst element of dq, of dk and of dv, each with its index, the kernel's value,
the exact value, the error and the budget. dq rows of rows with no visible key are a claim of
their own (rules.py: exactly zero), as the forward's empty rows are.
"""

from __future__ import annotations

import numpy as np

from attnspec.properties.attention.backward.catalogue import claim, requires_backward
from attnspec.properties.attention.conformance import tensor_mismatch
from attnspec.properties.attention.context import as_float64
from attnspec.properties.engine.property import HOLDS, Outcome


@claim("gradients_match_oracle",
       "dq, dk and dv are the exact gradients of <dO, out> (+ <dlse, lse>), within the derived "
       "budgets", applies=requires_backward(exact_values=True))
def gradients_match_oracle(ctx, recipe, device):
    case = ctx.backward_case(recipe, device)
    call = ctx.call_backward(case)
    problem = ctx.gradient_problem(case, call)
    exact = ctx.exact_gradients(problem)
    budget = ctx.gradient_budget(problem, recipe.dtype)
    compare = {"dq": np.broadcast_to(~exact.empty[..., None], exact.dq.shape), "dk": None,
               "dv": None}
    found = [tensor_mismatch(name, as_float64(call.gradients()[name]), values, budget,
                             compare[name])
             for name, values in exact.tensors().items()]
    found = [m for m in found if m is not None]
    if not found:
        return HOLDS
    worst = max(m.ratio for m in found)
    # every tensor's worst element, the worst first: a bug in one path shows as one tensor
    detail = "; ".join(m.describe() for m in sorted(found, key=lambda m: -m.ratio))
    return Outcome(worst, f"{detail} [oracle: {exact.tier}]")
