"""Exact claims about a backward call: finite gradients with nothing from empty rows, the same
bits twice, and inputs (dO included) left as they were."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st

from attnspec.oracles.attention.visibility import empty_rows, visible_keys
from attnspec.properties.attention.backward.catalogue import claim, requires_backward
from attnspec.properties.attention.forward.hygiene import first_difference
from attnspec.properties.attention.strategies import gradient_recipes
from attnspec.properties.engine.property import HOLDS, Outcome


def _can_empty_a_row(spec) -> str | None:
    """None when a declared option can hide every key of a row (a mask, or bottom-right causal
    with Lq > Lk), else why the claim cannot be exercised."""
    if spec.lacks("backward"):
        return spec.lacks("backward")
    if spec.mask or spec.causal == "bottom_right":
        return None
    return "no declared option can hide every key of a row (needs mask, or causal bottom_right)"


@st.composite
def _with_empty_rows(draw, spec, dtype, limits):
    """Recipes where some query rows see no key: a mask with fully masked rows, or (without a
    mask) bottom-right causal with Lq > Lk, whose first Lq - Lk rows see nothing."""
    if spec.mask:
        return draw(gradient_recipes(spec, dtype, limits, mask_density=draw(st.floats(0.2, 0.9)),
                                     empty_rows=draw(st.integers(1, 3))))
    kv_len = draw(st.integers(1, 8))
    return draw(gradient_recipes(spec, dtype, limits, causal=True, kv_len=kv_len,
                                 q_len=kv_len + draw(st.integers(1, 8))))


@claim("gradients_finite_on_empty_rows",
       "with rows that see no key, dq, dk and dv are finite and those rows' dq is exactly 0",
       applies=_can_empty_a_row, draw=_with_empty_rows)
def gradients_finite_on_empty_rows(ctx, recipe, device):
    case = ctx.backward_case(recipe, device)
    call = ctx.call_backward(case)
    problems = []
    for name, grad in call.gradients().items():
        bad = ~torch.isfinite(grad)
        if bad.any():
            index = [int(i) for i in torch.nonzero(bad)[0]]
            problems.append(f"{name} has {int(bad.sum())} non-finite element(s), first "
                            f"{name}{index} = {grad[tuple(index)].item()!r}")
    empty = empty_rows(visible_keys(ctx.problem(case.forward)))  # [B, Hq, Lq]
    dq_empty = call.dq.detach().cpu()[torch.from_numpy(empty)]  # [rows, D]
    nonzero = dq_empty != 0
    if nonzero.any():
        rows = [tuple(int(i) for i in r) for r in np.argwhere(empty)]
        row = rows[int(torch.nonzero(nonzero.any(dim=-1))[0])]
        problems.append(f"dq of the empty row {list(row)} is not 0: "
                        f"{call.dq[row].detach().cpu().tolist()[:4]}...")
    return Outcome(float("inf"), "; ".join(problems)) if problems else HOLDS


@claim("backward_deterministic",
       "two forward-and-backward calls on identical inputs give bitwise identical dq, dk, dv",
       applies=requires_backward("deterministic_backward"))
def backward_deterministic(ctx, recipe, device):
    case = ctx.backward_case(recipe, device)
    first, second = ctx.call_backward(case), ctx.call_backward(case)
    found = [first_difference(name, first.gradients()[name], second.gradients()[name])
             for name in ("dq", "dk", "dv")]
    found = [d for d in found if d]
    return Outcome(float("inf"), "second backward differs: " + "; ".join(found)) if found else HOLDS


@claim("backward_leaves_inputs_unchanged",
       "forward and backward leave q, k, v, dO, dlse, mask and alibi_slopes as they found them",
       applies=requires_backward())
def backward_leaves_inputs_unchanged(ctx, recipe, device):
    case = ctx.backward_case(recipe, device)
    before = case.clone()
    call = ctx.call_backward_on_originals(case)  # the originals, on purpose
    f, b = case.forward, before.forward
    named = [("q", b.q, f.q), ("k", b.k, f.k), ("v", b.v, f.v), ("dO", before.d_out, case.d_out)]
    named += [(k, b.kwargs[k], f.kwargs[k]) for k in f.kwargs
              if isinstance(f.kwargs[k], torch.Tensor)]
    if call.d_lse is not None:
        fed = torch.from_numpy(before.d_lse).to(dtype=call.d_lse.dtype, device=call.d_lse.device)
        named.append(("dlse", fed, call.d_lse))
    changes = [d for d in (first_difference(n, x, y.detach()) for n, x, y in named) if d]
    return Outcome(float("inf"), "modified its inputs: " + "; ".join(changes)) if changes else HOLDS
