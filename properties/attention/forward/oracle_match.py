"""The kernel's out and lse against the exact values (docs/kernel-contract.md "What correct means").

An approximate kernel's certificate (of the call compared) is added to the budget."""

from __future__ import annotations

from attnspec.properties.attention.conformance import compare_with_oracle
from attnspec.properties.attention.forward.catalogue import claim, requires
from attnspec.properties.attention.strategies import recipes
from attnspec.properties.engine.property import HOLDS, Outcome


def outcome_of_mismatches(mismatches) -> Outcome:
    """The worst of the oracle comparisons (none at all when every row is empty)."""
    if not mismatches:
        return HOLDS
    m = max(mismatches, key=lambda m: m.ratio)
    return Outcome(m.ratio, m.describe())


@claim(
    "output_matches_oracle",
    "out is the exact attention of the given inputs, within the derived error budget",
    draw=lambda spec, dtype, limits: recipes(spec, dtype, limits, return_lse=False),
)
def output_matches_oracle(ctx, recipe, device):
    return out_against_oracle(ctx, ctx.case(recipe, device))


def out_against_oracle(ctx, case) -> Outcome:
    """Call the kernel on ``case`` and hold its out against the oracle under the budget."""
    call = ctx.call(case)
    problem, exact = ctx.exact(case)
    return outcome_of_mismatches(compare_with_oracle(problem, exact, ctx.spec, case.recipe.dtype,
                                                     call.out, certificate=call.certificate))


@claim(
    "lse_matches_oracle",
    "lse is log sum exp of the visible scores, within the derived error budget",
    applies=requires("lse"),
    draw=lambda spec, dtype, limits: recipes(spec, dtype, limits, return_lse=True),
)
def lse_matches_oracle(ctx, recipe, device):
    case = ctx.case(recipe, device)
    call = ctx.call(case)
    problem, exact = ctx.exact(case)
    found = compare_with_oracle(problem, exact, ctx.spec, recipe.dtype, call.out, call.lse,
                                call.certificate)
    return outcome_of_mismatches([m for m in found if m.tensor == "lse"])
