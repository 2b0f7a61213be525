"""Metamorphic claims: transform the input, predict the output from the kernel's own output.

No oracle value is needed, only budgets, sized from a float64 evaluation. Each comparison allows
the two kernel outputs their two budgets (each is within its budget of its exact value, and the
exact values obey the claim exactly). Claims, all elementary consequences of the contract:

  key/value permutation   permuting keys, values and mask columns together leaves out unchanged
                          (without position-dependent options: causal, window, ALiBi);
  score shift             adding c to every score leaves out unchanged and adds c to lse;
  LSE merge               attention over keys K1 + K2 is the LSE-weighted merge of attention
                          over K1 and over K2: lse = logaddexp(lse1, lse2),
                          out = e^(lse1 - lse) out1 + e^(lse2 - lse) out2;
  batch/head independence the output of batch b and query head h depends only on their data;
  query scaling           attention(2^a q, scale s) = attention(q, scale 2^a s).

For an approximate kernel (a declared certificate) each output is within its own call's
certificate plus its budget of its exact value, so each side of a comparison adds the
certificate of the call that gave it (ctx.approximate(case, call=...)). None of these claims
asks two calls for the same bits, so none becomes inapplicable: e.g. a permutation of the keys
may change which blocks an approximate kernel draws, but both calls stay within their
certificates of exact values that are equal.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch
from hypothesis import reject
from hypothesis import strategies as st

from attnspec.properties.attention.cases import AttentionCase
from attnspec.properties.attention.context import as_float64
from attnspec.properties.attention.forward.catalogue import claim, requires
from attnspec.properties.attention.strategies import recipes
from attnspec.properties.engine.property import HOLDS, Outcome, worst
from attnspec.properties.engine.ratio import ratio_outcome

U64 = 2.0**-53  # float64 unit roundoff: the merge below is evaluated in float64


def with_variant(strategy, limits):
    """``strategy``'s recipes with a drawn variant; in a cell of the cover, the cell's."""
    if limits.cell is not None:
        return strategy
    return strategy.flatmap(
        lambda r: st.floats(0.0, 1.0, exclude_max=True).map(lambda x: replace(r, variant=x))
    )


def _same_rows(a, b, approx_a, approx_b, label):
    """Outcome of |a - b| against both budgets, over rows that are not empty."""
    tol = approx_a.budget.in_force("out") + approx_b.budget.in_force("out")
    rows = ~approx_a.empty[..., None]
    return ratio_outcome(as_float64(a) - as_float64(b), tol, label, np.broadcast_to(rows, tol.shape))


# ----------------------------------------------------------------------------------------------
def _position_free(spec, dtype, limits, **fixed):
    return recipes(spec, dtype, limits, causal=False, window=None, alibi=None, **fixed)


@claim(
    "key_value_permutation_equivariance",
    "permuting keys, values and mask columns together leaves out unchanged",
    draw=lambda spec, dtype, limits: with_variant(_position_free(spec, dtype, limits,
                                                                 return_lse=False), limits),
)
def key_value_permutation_equivariance(ctx, recipe, device):
    case = ctx.case(recipe, device)
    Lk = case.k.shape[2]
    perm = torch.from_numpy(np.random.default_rng(recipe.seed + 1).permutation(Lk)).to(device)
    kwargs = dict(case.kwargs)
    if "mask" in kwargs:
        kwargs["mask"] = kwargs["mask"].index_select(-1, perm)
    permuted = AttentionCase(recipe, case.q, case.k.index_select(2, perm),
                             case.v.index_select(2, perm), kwargs)
    a, b = ctx.call(case), ctx.call(permuted)
    return _same_rows(a.out, b.out, ctx.approximate(case, call=a),
                      ctx.approximate(permuted, call=b), "out")


# ----------------------------------------------------------------------------------------------
def _explicit_scale(recipe) -> float:
    return 1.0 / math.sqrt(recipe.head_dim) if recipe.scale is None else recipe.scale


def _pad_width(spec) -> int:
    return spec.head_dim_multiple


def _draw_shift(spec, dtype, limits):
    m = _pad_width(spec)
    cap = min(limits.max_head_dim, spec.max_head_dim or limits.max_head_dim)

    def fit(r):
        r = replace(r, softcap=None, scale=_explicit_scale(r) or 0.5)
        if r.head_dim + m > cap:
            r = replace(r, head_dim=max(m, r.head_dim - m))
        return replace(r, value_dim=r.head_dim) if spec.dv_equals_d else r

    return with_variant(recipes(spec, dtype, limits).map(fit), limits)


@claim(
    "score_shift_invariance",
    "adding a constant c to every score leaves out unchanged and adds c to lse",
    applies=requires("scale"),
    draw=_draw_shift,
)
def score_shift_invariance(ctx, recipe, device):
    case = ctx.case(recipe, device)
    scale = case.kwargs["scale"]
    shift = (recipe.variant - 0.5) * 2000.0  # c in [-1000, 1000)
    # One extra feature carries the shift: q gains alpha, k gains beta, scale*alpha*beta = c.
    alpha = 2.0 ** round(math.log2(math.sqrt(abs(shift / scale)) + 1e-30))
    beta = shift / (scale * alpha)
    m = _pad_width(ctx.spec)
    q_pad = torch.zeros(case.q.shape[:-1] + (m,), dtype=case.q.dtype, device=case.q.device)
    k_pad = torch.zeros(case.k.shape[:-1] + (m,), dtype=case.k.dtype, device=case.k.device)
    q_pad[..., 0], k_pad[..., 0] = alpha, beta
    v = case.v
    if ctx.spec.dv_equals_d:  # keep Dv == D: zero value columns, dropped before comparing
        v = torch.cat([v, torch.zeros(v.shape[:-1] + (m,), dtype=v.dtype, device=v.device)], -1)
    shifted = AttentionCase(recipe, torch.cat([case.q, q_pad], -1), torch.cat([case.k, k_pad], -1),
                            v, dict(case.kwargs))
    # The shift the kernel's inputs really carry (alpha, beta rounded to the dtype).
    true_shift = scale * float(q_pad[..., 0].flatten()[0]) * float(k_pad[..., 0].flatten()[0])
    lse_dtype = None
    if ctx.spec.lse:
        case.kwargs["return_lse"] = shifted.kwargs["return_lse"] = True
    a, b = ctx.call(case), ctx.call(shifted)
    if a.lse is not None:
        lse_dtype = str(a.lse.dtype).removeprefix("torch.")
    approx_a = ctx.approximate(case, lse_dtype, call=a)
    approx_b = ctx.approximate(shifted, lse_dtype, call=b)
    dv = case.v.shape[-1]
    approx_b.budget = approx_b.budget.restricted("out", (..., slice(0, dv)))
    outcome = _same_rows(a.out, b.out[..., :dv], approx_a, approx_b, "out")
    if a.lse is not None:
        tol = approx_a.budget.in_force("lse") + approx_b.budget.in_force("lse")
        tol = tol + 4 * U64 * (abs(true_shift) + np.abs(approx_b.lse))  # float64 subtraction
        rows = ~approx_a.empty
        with np.errstate(invalid="ignore"):  # empty rows: -inf - -inf
            diff = np.where(rows, as_float64(b.lse) - true_shift - as_float64(a.lse), 0.0)
        outcome = worst(outcome, ratio_outcome(diff, tol, "lse - c", rows))
    return outcome


# ----------------------------------------------------------------------------------------------
def _draw_split(spec, dtype, limits):
    def fit(r):
        r = replace(r, kv_len=max(2, r.kv_len))
        if spec.empty_rows == "nan":
            r = replace(r, mask_density=None, sentinel_trap=False)
        return r

    return with_variant(_position_free(spec, dtype, limits, return_lse=True).map(fit), limits)


def _keys(case: AttentionCase, keys: slice) -> AttentionCase:
    kwargs = dict(case.kwargs)
    if "mask" in kwargs:
        kwargs["mask"] = kwargs["mask"][..., keys]
    return AttentionCase(case.recipe, case.q, case.k[:, :, keys], case.v[:, :, keys], kwargs)


@claim(
    "lse_merge_of_key_splits",
    "attention over keys K1 + K2 equals the LSE-weighted merge of attention over K1 and K2",
    applies=requires("lse"),
    draw=_draw_split,
)
def lse_merge_of_key_splits(ctx, recipe, device):
    case = ctx.case(recipe, device)
    Lk = case.k.shape[2]
    t = 1 + int(recipe.variant * (Lk - 1))
    parts = [case, _keys(case, slice(0, t)), _keys(case, slice(t, Lk))]
    full, first, second = (ctx.call(c) for c in parts)
    lse_dtype = str(full.lse.dtype).removeprefix("torch.")
    approx = [ctx.approximate(c, lse_dtype, call=answer)
              for c, answer in zip(parts, (full, first, second))]
    l1, l2 = as_float64(first.lse), as_float64(second.lse)
    o1, o2 = as_float64(first.out), as_float64(second.out)
    with np.errstate(invalid="ignore"):  # both halves empty: logaddexp(-inf, -inf) = -inf
        lse = np.logaddexp(l1, l2)
        w1 = np.where(np.isneginf(l1), 0.0, np.exp(l1 - lse))[..., None]
        w2 = np.where(np.isneginf(l2), 0.0, np.exp(l2 - lse))[..., None]
    merged = w1 * o1 + w2 * o2
    b = [a.budget.in_force("out") for a in approx]
    lb = [a.budget.in_force("lse") for a in approx]
    lb1 = np.where(np.isneginf(l1), 0.0, lb[1])[..., None]
    lb2 = np.where(np.isneginf(l2), 0.0, lb[2])[..., None]
    # merged - exact = w1 e1 + w2 e2 + (w1 - w1*)(o1* - o2*), e_k each part's out error: each
    # part's out error weighted, plus the weights' sensitivity to the parts' lse errors. w1 is
    # the sigmoid of x = lse1 - lse2, whose error is |d| <= lb1 + lb2; sigmoid' = w1 w2 grows
    # by at most e^(2|t|) at x + t, so |w1 - w1*| <= w1 w2 (e^(2|d|) - 1) / 2 (= w1 w2 |d| to
    # first order: the same as before for rounding-sized lb, and a bound also for the large lse
    # errors an approximate kernel's certificate allows); |o1* - o2*| <= |o1 - o2| + b1 + b2.
    # Plus the float64 merge's own rounding: logaddexp errs by <= 2u|lse| + u, l_k - lse by
    # u|l_k - lse| more, and exp by u, so w_k carries a relative error <= u (|l_k| + 3|lse| + 2);
    # the sum adds 2u|merged|.
    weight_error = w1 * w2 * np.expm1(2 * (lb1 + lb2)) / 2
    tol = b[0] + w1 * b[1] + w2 * b[2] + (np.abs(o1 - o2) + b[1] + b[2]) * weight_error
    finite = lambda x: np.where(np.isfinite(x), np.abs(x), 0.0)[..., None]  # noqa: E731
    tol = tol + U64 * (w1 * np.abs(o1) * (finite(l1) + 3 * finite(lse) + 4)
                       + w2 * np.abs(o2) * (finite(l2) + 3 * finite(lse) + 4))
    rows = ~approx[0].empty
    out_outcome = ratio_outcome(merged - as_float64(full.out), tol, "merged out",
                           np.broadcast_to(rows[..., None], tol.shape))
    # logaddexp's gradient is (w1, w2) at the point, and along the way from the exact lse to the
    # kernel's each weight grows by at most e^(lb1 + lb2) (as above): first order w1 lb1 + w2 lb2.
    lse_tol = lb[0] + (w1[..., 0] * lb1[..., 0] + w2[..., 0] * lb2[..., 0]) * np.exp(
        lb1[..., 0] + lb2[..., 0])
    lse_tol = lse_tol + 4 * U64 * np.abs(np.where(rows, lse, 0.0))
    with np.errstate(invalid="ignore"):
        lse_diff = np.where(rows, lse - as_float64(full.lse), 0.0)
    lse_outcome = ratio_outcome(lse_diff, lse_tol, "merged lse", rows)
    return worst(out_outcome, lse_outcome)


# ----------------------------------------------------------------------------------------------
def _draw_independence(spec, dtype, limits):
    def fit(r):
        return replace(r, batch=max(2, r.batch), return_lse=False)

    return with_variant(recipes(spec, dtype, limits).map(fit), limits)


def _select(case: AttentionCase, batch: slice, q_heads: slice, kv_heads: slice) -> AttentionCase:
    kwargs = dict(case.kwargs)
    if "mask" in kwargs:
        mask = kwargs["mask"]
        if mask.dim() == 4:
            mask = mask[batch if mask.shape[0] > 1 else slice(None)]
            mask = mask[:, q_heads if mask.shape[1] > 1 else slice(None)]
        kwargs["mask"] = mask
    if "alibi_slopes" in kwargs:
        kwargs["alibi_slopes"] = kwargs["alibi_slopes"][q_heads]
    return AttentionCase(case.recipe, case.q[batch, q_heads], case.k[batch, kv_heads],
                         case.v[batch, kv_heads], kwargs)


@claim(
    "batch_and_head_independence",
    "the output of batch b and query head h is the same when computed alone",
    draw=_draw_independence,
)
def batch_and_head_independence(ctx, recipe, device):
    case = ctx.case(recipe, device)
    full = ctx.call(case)
    approx_full = ctx.approximate(case, call=full)
    B, Hq, Hk = case.q.shape[0], case.q.shape[1], case.k.shape[1]
    group = Hq // Hk
    b = int(recipe.variant * B)
    g = int(recipe.variant * Hk)
    pieces = [
        (slice(b, b + 1), slice(None), slice(None)),  # one batch entry, all heads
        (slice(None), slice(g * group, (g + 1) * group), slice(g, g + 1)),  # one kv group
    ]
    outcomes = []
    for batch, q_heads, kv_heads in pieces:
        alone = _select(case, batch, q_heads, kv_heads)
        part = ctx.call(alone)
        approx = ctx.approximate(alone, call=part)
        tol = approx.budget.in_force("out") + approx_full.budget.in_force("out")[batch, q_heads]
        rows = ~approx.empty[..., None]
        diff = as_float64(part.out) - as_float64(full.out)[batch, q_heads]
        label = f"out[{b}] alone" if batch.start is not None else f"heads {q_heads.start}.. alone"
        outcomes.append(ratio_outcome(diff, tol, label, np.broadcast_to(rows, tol.shape)))
    return worst(*outcomes)


# ----------------------------------------------------------------------------------------------
@claim(
    "query_scaling_equals_scale",
    "attention(2^a q, scale=s) equals attention(q, scale=2^a s)",
    applies=requires("scale"),
    draw=lambda spec, dtype, limits: with_variant(recipes(spec, dtype, limits, return_lse=False),
                                                       limits),
)
def query_scaling_equals_scale(ctx, recipe, device):
    case = ctx.case(recipe, device)
    scale = _explicit_scale(recipe)
    preferred = [1, 2, -1, -2] if recipe.variant < 0.5 else [-1, -2, 1, 2]
    for a in preferred:
        scaled_q = case.q * 2.0**a
        exact = torch.isfinite(scaled_q).all() and torch.equal(scaled_q * 2.0**-a, case.q)
        if exact:
            break
    else:
        reject()  # no power of two scales this q exactly (over- or underflow in the dtype)
    left = AttentionCase(recipe, scaled_q, case.k, case.v, dict(case.kwargs, scale=scale))
    right = AttentionCase(recipe, case.q, case.k, case.v, dict(case.kwargs, scale=scale * 2.0**a))
    x, y = ctx.call(left), ctx.call(right)
    outcome = _same_rows(x.out, y.out, ctx.approximate(left, call=x),
                         ctx.approximate(right, call=y), "out")
    return Outcome(outcome.ratio, f"a={a}: {outcome.detail}") if outcome.ratio > 0 else HOLDS
