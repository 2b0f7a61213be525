"""Exact claims about the call itself: inputs unchanged, and the same bits twice."""

from __future__ import annotations

import torch

from attnspec.properties.attention.forward.catalogue import claim, requires
from attnspec.properties.engine.property import HOLDS, Outcome

_SAME_SIZE_INT = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def bits(t: torch.Tensor) -> torch.Tensor:
    """The tensor's bit patterns (NaN == NaN, -0.0 != 0.0), comparable with torch.equal."""
    if t.dtype == torch.bool or not t.dtype.is_floating_point:
        return t.contiguous()
    return t.contiguous().view(_SAME_SIZE_INT[t.element_size()])


def first_difference(name: str, before: torch.Tensor, after: torch.Tensor) -> str | None:
    if before.shape != after.shape or before.dtype != after.dtype:
        return f"{name} changed from {tuple(before.shape)}/{before.dtype} to " \
               f"{tuple(after.shape)}/{after.dtype}"
    differs = bits(before) != bits(after)
    if not differs.any():
        return None
    index = tuple(int(i) for i in torch.nonzero(differs)[0])
    return (f"{name}: {int(differs.sum())} element(s) differ, first at {list(index)}: "
            f"{before[index].item()!r} vs {after[index].item()!r}")


@claim("inputs_unchanged", "the kernel leaves q, k, v, mask and alibi_slopes as it found them")
def inputs_unchanged(ctx, recipe, device):
    case = ctx.case(recipe, device)
    before = case.clone()
    ctx.call_on_originals(case)  # the originals, on purpose
    named = [("q", before.q, case.q), ("k", before.k, case.k), ("v", before.v, case.v)]
    named += [(k, before.kwargs[k], case.kwargs[k]) for k in case.kwargs
              if isinstance(case.kwargs[k], torch.Tensor)]
    changes = [d for d in (first_difference(n, b, a) for n, b, a in named) if d]
    return Outcome(float("inf"), "modified its inputs: " + "; ".join(changes)) if changes else HOLDS


@claim(
    "deterministic",
    "two calls on identical inputs return bitwise identical out (and lse)",
    applies=requires("deterministic"),
)
def deterministic(ctx, recipe, device):
    first_case = ctx.case(recipe, device)
    second_case = first_case.clone()
    first, second = ctx.call(first_case), ctx.call(second_case)
    differences = [first_difference("out", first.out, second.out)]
    if first.lse is not None:
        differences.append(first_difference("lse", first.lse, second.lse))
    found = [d for d in differences if d]
    return Outcome(float("inf"), "second call differs: " + "; ".join(found)) if found else HOLDS
