"""Temperature laws of softmax attention, observed on the kernel's own weights.

Claims (docs/claims.md section 0, [D], verified there over 2000 rows x 401 betas): for a finite score
row s and w(beta) = softmax(beta s) over the visible keys,
  - the max weight, and more generally the mass of the k highest-scoring keys, is
    non-decreasing in beta >= 0 (d/dbeta of the top-k mass is W_T (1 - W_T)(mean_T s -
    mean_rest s) >= 0);
  - the entropy H(w) is non-increasing (dH/dbeta = -beta Var_w(s));
  - beta = 0 gives the uniform average of the visible values;
  - beta -> infinity puts equal mass on the argmax set.

The kernel's weights are read directly: with one-hot values (V = I, Dv = Lk) out row i is the
weight vector w_i. The scale argument is beta. Softcap and ALiBi are off (they make the scores
themselves depend on beta or add a beta-free bias).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch
from hypothesis import assume

from attnspec.oracles.attention.visibility import visible_keys

from attnspec.properties.attention.cases import AttentionCase
from attnspec.properties.attention.context import as_float64
from attnspec.properties.attention.forward.catalogue import claim, requires
from attnspec.properties.attention.forward.metamorphic import with_variant
from attnspec.properties.attention.forward.oracle_match import out_against_oracle
from attnspec.properties.attention.strategies import recipes
from attnspec.properties.engine.property import HOLDS, Outcome
from attnspec.properties.engine.ratio import format_index, worst_element

WEIGHTS_MAX_KEYS = 48  # one-hot values make Dv = Lk: keep random draws small (a cell's own
#                        lengths are kept, to the kernel's max_head_dim)
_LARGEST_FINITE = {"float16": 65504.0, "bfloat16": 3.3895e38, "float32": 3.4028e38,
                   "float64": 1.7976e308}


def _weights_draw(spec, dtype, limits):
    m = spec.head_dim_multiple
    keys = WEIGHTS_MAX_KEYS if limits.cell is None else limits.cell.kv_len
    cap = min(keys, spec.max_head_dim or keys)

    def fit(r):
        kv = min(max(r.kv_len, 2), cap)
        kv = max(m, kv - kv % m)  # Dv = Lk must be a supported head dim
        r = replace(r, kv_len=kv, value_dim=kv, softcap=None, alibi=None, return_lse=False)
        return replace(r, head_dim=kv) if spec.dv_equals_d else r

    return with_variant(recipes(spec, dtype, limits).map(fit), limits)


def _identity_values(case: AttentionCase) -> AttentionCase:
    B, Hk, Lk, _ = case.k.shape
    eye = torch.eye(Lk, dtype=case.v.dtype, device=case.v.device).expand(B, Hk, Lk, Lk)
    return AttentionCase(case.recipe, case.q, case.k, eye.contiguous(), dict(case.kwargs))


def _weights_at(ctx, case: AttentionCase, beta: float):
    probe = AttentionCase(case.recipe, case.q, case.k, case.v, dict(case.kwargs, scale=beta))
    call = ctx.call(probe)
    approx = ctx.approximate(probe, call=call)  # an approximate kernel's certificate included
    return as_float64(call.out), approx.budget.in_force("out"), approx


def _reference_weights(ctx, case: AttentionCase, beta: float) -> np.ndarray:
    """float64 weights at ``beta``, without calling the kernel (for ranking keys)."""
    probe = AttentionCase(case.recipe, case.q, case.k, case.v, dict(case.kwargs, scale=beta))
    return ctx.approximate(probe).out


def _betas(recipe) -> tuple[float, float]:
    base = abs(1.0 / math.sqrt(recipe.head_dim) if recipe.scale is None else recipe.scale)
    return base, base * (1.0 + 3.0 * recipe.variant) + 1e-3  # beta2 > beta1 >= 0


def _weights_at_two_betas(ctx, recipe, device):
    """The kernel's weights and their budgets at beta1 < beta2, and the case they came from."""
    case = _identity_values(ctx.case(recipe, device))
    beta1, beta2 = _betas(recipe)
    w1, b1, approx = _weights_at(ctx, case, beta1)
    w2, b2, _ = _weights_at(ctx, case, beta2)
    return case, approx.empty, (beta1, w1, b1), (beta2, w2, b2)


def _nonfinite_weight(empty: np.ndarray, *weights: tuple[float, np.ndarray]) -> Outcome | None:
    """A violation naming the first non-finite weight of a row with a visible key, if any: a
    NaN weight would otherwise read as 0 in a mass or an entropy and be reported as a change."""
    for beta, w in weights:
        bad = ~np.isfinite(w) & ~empty[..., None]
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            return Outcome(math.inf, f"weight {format_index(idx)} = {w[idx]} at beta {beta:.4g}: "
                                     f"not finite in a row with visible keys")
    return None


@claim(
    "max_weight_nondecreasing_in_inverse_temperature",
    "the max weight and the top-k mass (k <= 3) do not decrease as the scale (beta) grows",
    applies=requires("scale"),
    draw=_weights_draw,
)
def max_weight_nondecreasing(ctx, recipe, device):
    case, empty, (beta1, w1, b1), (beta2, w2, b2) = _weights_at_two_betas(ctx, recipe, device)
    if broken := _nonfinite_weight(empty, (beta1, w1), (beta2, w2)):
        return broken
    # Keys ranked by score (weights at beta = 1): the top-k set is the same for every beta > 0,
    # and at beta = 0 every set has the same mass. Tied keys have equal weights at every beta,
    # so any order among them gives the same top-k mass.
    scores_order = np.argsort(-_reference_weights(ctx, case, 1.0), axis=-1, kind="stable")
    worst_ratio, detail = 0.0, ""
    for k in (1, 2, 3):
        if k > w1.shape[-1]:
            break
        top = scores_order[..., :k]
        mass1 = np.take_along_axis(w1, top, -1).sum(-1)
        mass2 = np.take_along_axis(w2, top, -1).sum(-1)
        tol = np.take_along_axis(b1, top, -1).sum(-1) + np.take_along_axis(b2, top, -1).sum(-1)
        drop = np.where(empty, 0.0, np.maximum(mass1 - mass2, 0.0))
        ratio, idx = worst_element(drop, tol)
        if ratio > worst_ratio:
            worst_ratio = ratio
            detail = (f"top-{k} mass of row {format_index(idx)} fell from {mass1[idx]:.6g} at beta "
                      f"{beta1:.4g} to {mass2[idx]:.6g} at beta {beta2:.4g} (tolerance "
                      f"{tol[idx]:.3g})")
    return Outcome(worst_ratio, detail) if worst_ratio else HOLDS


def _entropy(w: np.ndarray) -> np.ndarray:
    w = np.clip(w, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(w > 0, w * np.log(w), 0.0).sum(-1)


def _entropy_slack(budget: np.ndarray) -> np.ndarray:
    """sum_j eta(b_j), eta(t) = -t ln t on [0, 1/e], 1/e beyond: |eta(x) - eta(y)| <=
    eta(|x - y|) for |x - y| <= 1/2, and eta stays within [0, 1/e] (Fannes' lemma)."""
    t = np.minimum(budget, 1 / math.e)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t > 0, -t * np.log(t), 0.0).sum(-1)


@claim(
    "entropy_nonincreasing_in_inverse_temperature",
    "the entropy of the weights does not increase as the scale (beta) grows",
    applies=requires("scale"),
    draw=_weights_draw,
)
def entropy_nonincreasing(ctx, recipe, device):
    _, empty, (beta1, w1, b1), (beta2, w2, b2) = _weights_at_two_betas(ctx, recipe, device)
    if broken := _nonfinite_weight(empty, (beta1, w1), (beta2, w2)):
        return broken
    rise = np.where(empty, 0.0, np.maximum(_entropy(w2) - _entropy(w1), 0.0))
    tol = _entropy_slack(b1) + _entropy_slack(b2)
    ratio, idx = worst_element(rise, tol)
    if ratio == 0:
        return HOLDS
    return Outcome(ratio, f"entropy of row {format_index(idx)} rose by {rise[idx]:.3g} from "
                                      f"beta {beta1:.4g} to {beta2:.4g} (tolerance {tol[idx]:.3g})")


@claim(
    "uniform_average_at_zero_temperature",
    "scale=0 (beta = 0) gives the plain average of the visible values",
    applies=requires("scale"),
    draw=lambda spec, dtype, limits: recipes(spec, dtype, limits, scale=0.0, score_shift=0.0,
                                             return_lse=False),
)
def uniform_average_at_zero(ctx, recipe, device):
    return out_against_oracle(ctx, ctx.case(recipe, device))


@claim(
    "argmax_at_infinite_inverse_temperature",
    "a scale large enough that every score gap is >= 60 puts equal mass on the argmax keys",
    applies=requires("scale"),
    draw=lambda spec, dtype, limits: recipes(spec, dtype, limits, near_ties=False, softcap=None,
                                             alibi=None, score_shift=0.0, return_lse=False),
)
def argmax_at_infinity(ctx, recipe, device):
    case = ctx.case(recipe, device)
    raw = ctx.problem(AttentionCase(recipe, case.q, case.k, case.v, dict(case.kwargs, scale=1.0)))
    k = np.repeat(raw.k, raw.group_size, axis=1)
    v = np.repeat(raw.v, raw.group_size, axis=1)
    s = raw.q @ np.swapaxes(k, -1, -2)  # [B, Hq, Lq, Lk] scores at beta = 1, in float64
    # Duplicate keys tie exactly; float64 evaluation may split them by at most the dot
    # product's error bound D u sum_c |q_c k_c| (Higham 3.1), so ties are judged within twice it.
    abs_s = np.abs(raw.q) @ np.swapaxes(np.abs(k), -1, -2)
    tie_tol = (2 * raw.head_dim * 2.0**-53 * abs_s).max(-1, keepdims=True)
    visible = visible_keys(raw)
    s = np.where(visible, s, -np.inf)
    top = s.max(-1, keepdims=True)
    argmax_set = visible & (s >= top - tie_tol)
    with np.errstate(invalid="ignore"):  # rows with no visible key: -inf - -inf
        gaps = np.where(visible & ~argmax_set, top - s, np.inf).min(-1)  # [B, Hq, Lq]
    finite = np.isfinite(gaps)
    assume(finite.any())
    beta = 60.0 / float(gaps[finite].min())
    assume(beta * float(np.abs(np.where(visible, s, 0)).max()) < 1e6)  # keep scores finite
    # ... also in the declared score precision: a float16 accumulation must hold the partial
    # dot products, of at most beta A = beta sum_c |q_c k_c| in exact arithmetic and at most
    # gamma_(D+2)(u_a) more computed (Higham 3.1; < 1 for D < 1000 in float16), so beta A stays
    # below half the largest finite value. The tolerance is that precision's budget: at such
    # betas a bfloat16 score of 1e4 is off by up to 32, where the budget carries the second-order
    # terms or falls back to the values' range (oracles/attention/error_budget.py).
    acc = ctx.spec.accumulation_for(recipe.dtype)
    assume(beta * float(np.where(visible, abs_s, 0).max()) < _LARGEST_FINITE[acc] / 2)
    big = AttentionCase(recipe, case.q, case.k, case.v, dict(case.kwargs, scale=beta))
    call = ctx.call(big)
    approx = ctx.approximate(big, call=call)
    counts = argmax_set.sum(-1, keepdims=True)
    target = np.divide((argmax_set[..., None] * v[..., None, :, :]).sum(-2), counts,
                       out=np.zeros(approx.out.shape), where=counts > 0)
    # Mass left off the argmax set is <= (Lk - 1) e^-60 of the row; it moves out by at most
    # that times the spread of v.
    tail = (raw.kv_len * math.exp(-60.0)) * (np.abs(v).max() + np.abs(target))
    tol = approx.budget.in_force("out") + tail
    rows = ~approx.empty[..., None] & (counts > 0)
    diff = np.where(np.broadcast_to(rows, tol.shape), as_float64(call.out) - target, 0.0)
    ratio, idx = worst_element(diff, tol)
    if ratio == 0:
        return HOLDS
    return Outcome(ratio, f"out{format_index(idx)} = {float(as_float64(call.out)[idx])!r} at beta "
                                      f"{beta:.4g}, argmax average {float(target[idx])!r} over "
                                      f"{int(counts[idx[:-1]][0])} key(s) (tolerance "
                                      f"{tol[idx]:.3g})")
