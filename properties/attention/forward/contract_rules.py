"""Rules of the contract that are exact: empty rows, causal alignment, output form.

They stay exact for an approximate kernel: which rows are empty and the form of what comes back
are not approximated; causal alignment is judged against the oracle with the call's certificate
added to the budget."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from attnspec.oracles.attention.problem import AttentionProblem
from attnspec.oracles.attention.visibility import empty_rows, visible_keys

from attnspec.oracles.attention.exact import exact_attention
from attnspec.properties.attention.conformance import compare_with_oracle
from attnspec.properties.attention.context import as_float64
from attnspec.properties.attention.forward.catalogue import claim, requires
from attnspec.properties.attention.forward.oracle_match import outcome_of_mismatches
from attnspec.properties.attention.strategies import recipes
from attnspec.properties.engine.property import HOLDS, Outcome


def _can_empty_a_row(spec):
    if (spec.mask or spec.window and not spec.restricted("window_needs_equal_lengths")
            or spec.causal == "bottom_right"
            and not spec.restricted("causal_needs_equal_lengths")):
        return None
    return ("no declared option can leave a row without keys (no mask; no window, causal "
            "absent or top-left, or declared only for Lq == Lk)")


def _draw_empty_rows(spec, dtype, limits):
    def force(r):
        if spec.mask:  # without the options the kernel declares cannot go with a mask
            return replace(r, mask_density=r.mask_density or 0.5, empty_rows=max(r.empty_rows, 1),
                           causal=r.causal and not spec.restricted("mask_excludes_causal"),
                           alibi=None if spec.restricted("mask_excludes_alibi") else r.alibi)
        longer = replace(r, q_len=r.kv_len + 1 + r.q_len % 3) if r.q_len <= r.kv_len else r
        if spec.causal == "bottom_right" and not spec.restricted("causal_needs_equal_lengths"):
            return replace(longer, causal=True)  # rows i < Lq - Lk see no key
        return replace(longer, window=(0, 0), causal=False)  # row i sees only key i + Lk - Lq

    return recipes(spec, dtype, limits, return_lse=spec.lse).map(force)


@claim(
    "empty_rows_as_declared",
    "a row with no visible key gives out = 0 and lse = -inf ('zero'), or NaN ('nan'), as declared",
    applies=_can_empty_a_row,
    draw=_draw_empty_rows,
)
def empty_rows_as_declared(ctx, recipe, device):
    case = ctx.case(recipe, device)
    call = ctx.call(case)
    empty = empty_rows(visible_keys(ctx.problem(case)))  # [B, Hq, Lq]
    if not empty.any():
        return HOLDS
    out = as_float64(call.out)[empty]  # [rows, Dv]
    nan_mode = ctx.spec.empty_rows == "nan"
    bad_out = ~np.isnan(out) if nan_mode else out != 0
    problems = []
    if bad_out.any():
        row = tuple(int(i) for i in np.argwhere(empty)[np.argwhere(bad_out)[0][0]])
        value = out[bad_out][0]
        problems.append(f"out at empty row {row} is {value!r}, declared "
                        f"{'NaN' if nan_mode else '0'}")
    if call.lse is not None:
        lse = as_float64(call.lse)[empty]
        bad_lse = ~np.isnan(lse) if nan_mode else lse != -np.inf
        if bad_lse.any():
            row = tuple(int(i) for i in np.argwhere(empty)[np.argwhere(bad_lse)[0][0]])
            problems.append(f"lse at empty row {row} is {lse[bad_lse][0]!r}, declared "
                            f"{'NaN' if nan_mode else '-inf'}")
    return Outcome(float("inf"), "; ".join(problems)) if problems else HOLDS


def _draw_causal(spec, dtype, limits):
    def unequal(r):
        r = replace(r, causal=True, window=None)
        return replace(r, kv_len=r.q_len + 2) if r.q_len == r.kv_len else r

    return recipes(spec, dtype, limits, return_lse=False).map(unequal)


@claim(
    "causal_alignment_as_declared",
    "causal=True with Lq != Lk hides keys under the declared alignment (bottom_right: "
    "j <= i + Lk - Lq; top_left: j <= i)",
    applies=lambda spec: spec.lacks("causal") or (
        "the kernel declares causal only when Lq == Lk (restrictions), and the alignment shows "
        "only when Lq != Lk" if spec.restricted("causal_needs_equal_lengths") else None),
    draw=_draw_causal,
)
def causal_alignment_as_declared(ctx, recipe, device):
    declared, other = _alignments(ctx, recipe, device)
    if declared.ratio <= 1:
        return declared
    hint = ""
    if other.ratio <= 1 and _follows_the_other_alignment(ctx, recipe, device):
        hint = f" (the output matches causal alignment {_other(ctx)!r} instead of the declared " \
               f"{ctx.spec.causal!r})"
    return Outcome(declared.ratio, declared.detail + hint)


def _other(ctx) -> str:
    return "top_left" if ctx.spec.causal == "bottom_right" else "bottom_right"


def _alignments(ctx, recipe, device) -> tuple[Outcome, Outcome]:
    """The kernel's output on ``recipe`` against the exact output under the declared causal
    alignment, and under the other one."""
    case = ctx.case(recipe, device)
    call = ctx.call(case)
    problem, exact = ctx.exact(case)
    declared = outcome_of_mismatches(compare_with_oracle(problem, exact, ctx.spec, recipe.dtype,
                                                         call.out, certificate=call.certificate))
    alt = AttentionProblem.build(problem.q, problem.k, problem.v, scale=problem.scale,
                                 causal=_other(ctx), alibi_slopes=problem.alibi_slopes,
                                 mask=problem.mask, window=problem.window,
                                 softcap=problem.softcap)
    other = outcome_of_mismatches(compare_with_oracle(alt, exact_attention(alt), ctx.spec,
                                                      recipe.dtype, call.out,
                                                      certificate=call.certificate))
    return declared, other


def _follows_the_other_alignment(ctx, recipe, device) -> bool:
    """Whether the kernel follows the other alignment on a plain case of the same shapes: causal
    alone, no mask, window, ALiBi or softcap, fresh values. A shrunk counterexample can match
    the other alignment by coincidence (measured: a kernel that reads one head's mask for every
    head, whose shrunk case left a row empty under both), so the hint is named only when the
    plain case shows it too."""
    plain = replace(recipe, seed=recipe.seed + 1, mask_density=None, empty_rows=0,
                    sentinel_trap=False, window=None, alibi=None, softcap=None)
    declared, other = _alignments(ctx, plain, device)
    return declared.ratio > 1 and other.ratio <= 1


@claim(
    "output_shape_dtype_device",
    "out is a tensor [B, Hq, Lq, Dv] with q's dtype and device; lse is [B, Hq, Lq], floating",
)
def output_shape_dtype_device(ctx, recipe, device):
    ctx.call(ctx.case(recipe, device))  # the invoker checks the form of what comes back
    return HOLDS

