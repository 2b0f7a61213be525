"""Exact identities of the gradients that need no oracle, so they reach shapes the oracle
cannot afford (docs/kernel-contract.md "Gradients"; derivations in docs/claims.md):

    sum_j dK_j = 0 per kv head        with no softcap and dlse = 0. Each row's dS sums to
                                      sum_j P_ij dP_ij - D_i = <dO_i, O_i> - D_i = dlse_i = 0:
                                      moving every key by one vector shifts each row's scores
                                      together, which softmax ignores (ALiBi, masks and causal
                                      rules leave this intact).
    sum_j dV_j = sum_i dO_i           per kv head, over the non-empty rows of its query heads:
                                      each such row's weights sum to 1.

Tolerance: the sum over keys of the kernel's per-element budgets (a bound on the error of the
sum, since every element is within its own), plus the float64 rounding of the sums formed
here (gamma_n of the sum of magnitudes, n the number of terms). The budgets are those of the
exact attention, so neither identity applies to an approximate kernel (its certificate bounds
out and lse, not the gradients).
"""

from __future__ import annotations

import numpy as np

from attnspec.oracles.attention.visibility import empty_rows, visible_keys
from attnspec.properties.attention.backward.catalogue import claim, requires_backward
from attnspec.properties.attention.context import as_float64
from attnspec.properties.attention.strategies import gradient_recipes
from attnspec.properties.engine.property import Outcome
from attnspec.properties.engine.ratio import error_ratio, ratio_outcome

U64 = 2.0**-53


def _sum_against(label: str, sums: np.ndarray, expected: np.ndarray,
                 tolerance: np.ndarray) -> Outcome:
    """The worst |sums - expected| / tolerance over [B, Hk, C] (the engine's one ratio rule),
    named by ``label`` and the element, with both values."""
    with np.errstate(invalid="ignore"):  # inf - inf in a kernel's non-finite sums: NaN
        outcome = ratio_outcome(sums - expected, tolerance, label)
    if outcome.ratio == 0:
        return outcome
    index = np.unravel_index(int(np.argmax(error_ratio(sums - expected, tolerance))), sums.shape)
    return Outcome(outcome.ratio, f"{outcome.detail} (the kernel's sum {float(sums[index])!r}, "
                                  f"expected {float(expected[index])!r})")


def _gamma(n: int) -> float:
    return n * U64 / (1 - n * U64)


@claim("key_gradients_sum_to_zero",
       "with no softcap and dlse = 0, the kernel's dK sums to 0 over the keys of each kv head",
       applies=requires_backward(exact_values=True),
       draw=lambda spec, dtype, limits: gradient_recipes(spec, dtype, limits, softcap=None,
                                                         return_lse=False))
def key_gradients_sum_to_zero(ctx, recipe, device):
    case = ctx.backward_case(recipe, device)
    call = ctx.call_backward(case)
    problem = ctx.gradient_problem(case, call)
    dk = as_float64(call.dk)  # [B, Hk, Lk, D]
    budget = ctx.gradient_budget(problem, recipe.dtype).in_force("dk")
    n = dk.shape[2]
    with np.errstate(invalid="ignore"):  # a kernel's inf and -inf sum to NaN: a violation
        sums, tolerance = dk.sum(axis=2), budget.sum(axis=2) + _gamma(n) * np.abs(dk).sum(axis=2)
    return _sum_against("sum over keys of dk [b, kv head, feature]", sums,
                        np.zeros_like(tolerance), tolerance)


@claim("value_gradients_sum_to_output_gradients",
       "the kernel's dV summed over the keys of a kv head is the sum of dO over the non-empty "
       "rows of its query heads",
       applies=requires_backward(exact_values=True))
def value_gradients_sum_to_output_gradients(ctx, recipe, device):
    case = ctx.backward_case(recipe, device)
    call = ctx.call_backward(case)
    problem = ctx.gradient_problem(case, call)
    f = problem.forward
    dv = as_float64(call.dv)  # [B, Hk, Lk, Dv]
    nonempty = ~empty_rows(visible_keys(f))  # [B, Hq, Lq]
    d_out = np.where(nonempty[..., None], problem.d_out, 0.0)  # [B, Hq, Lq, Dv]
    per_group = d_out.reshape(f.batch, f.kv_heads, f.group_size * f.q_len, f.value_dim)
    expected = per_group.sum(axis=2)  # [B, Hk, Dv]
    budget = ctx.gradient_budget(problem, recipe.dtype).in_force("dv")
    with np.errstate(invalid="ignore"):  # a kernel's inf and -inf sum to NaN: a violation
        sums = dv.sum(axis=2)
        tolerance = (budget.sum(axis=2) + _gamma(dv.shape[2]) * np.abs(dv).sum(axis=2)
                     + _gamma(per_group.shape[2]) * np.abs(per_group).sum(axis=2))
    return _sum_against("sum over keys of dv [b, kv head, feature]", sums, expected,
                        tolerance)
