"""A declared option must change the output where it should.

Claim (elementary): for each option the kernel declares (causal, alibi_slopes, mask, window,
softcap, scale), there are inputs on which the exact output with the option differs from the
exact output without it; on such inputs the kernel's two outputs must differ by the same amount,
within both budgets. A kernel that accepts a keyword and ignores it (or applies it to the wrong
thing) fails here with the option's name, even when nothing else looks wrong.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import assume

from attnspec.kernels.spec import SCORE_KEYWORDS
from attnspec.properties.attention.cases import AttentionCase
from attnspec.properties.attention.context import as_float64
from attnspec.properties.attention.forward.catalogue import claim
from attnspec.properties.attention.forward.metamorphic import with_variant
from attnspec.properties.attention.strategies import recipes
from attnspec.properties.engine.property import HOLDS, Outcome
from attnspec.properties.engine.ratio import error_ratio, format_index

OPTIONS = SCORE_KEYWORDS + ("scale",)


def declared_options(spec) -> list[str]:
    return [name for name in OPTIONS if spec.accepts(name)]


def _any_option(spec):
    return None if declared_options(spec) else "the kernel declares no option to test"


def _option_of(spec, recipe) -> str:
    names = declared_options(spec)
    return names[int(recipe.variant * len(names))]


def _draw(spec, dtype, limits):
    def fit(r):
        option = _option_of(spec, r)
        # The option under test gets a setting that matters; the others stay as drawn.
        r = replace(r, return_lse=False, q_len=max(r.q_len, 3), kv_len=max(r.kv_len, 3),
                    logit_scale=min(max(r.logit_scale, 0.5), 30.0), score_shift=0.0)
        if option == "causal":
            return replace(r, causal=True, kv_len=r.q_len)
        if option == "alibi_slopes":
            return replace(r, alibi="canonical")
        if option == "mask":
            return replace(r, mask_density=0.5, empty_rows=0)
        if option == "window":
            return replace(r, window=(1, 0))
        if option == "softcap":
            return replace(r, softcap=1.0, logit_scale=max(r.logit_scale, 3.0))
        return replace(r, scale=2.5 / r.head_dim**0.5)

    return with_variant(recipes(spec, dtype, limits), limits).map(fit)


@claim(
    "option_sensitivity",
    "each declared option (causal, alibi_slopes, mask, window, softcap, scale) changes the "
    "output exactly where the exact output changes",
    applies=_any_option,
    draw=_draw,
)
def option_sensitivity(ctx, recipe, device):
    option = _option_of(ctx.spec, recipe)
    case = ctx.case(recipe, device)
    kwargs = dict(case.kwargs)
    kwargs.pop(option, None)
    without = AttentionCase(recipe, case.q, case.k, case.v, kwargs)
    a, b = ctx.approximate(case), ctx.approximate(without)
    change = a.out - b.out  # exact change (float64 evaluation) the option makes
    tol = a.budget.in_force("out") + b.budget.in_force("out")
    rows = (~a.empty & ~b.empty)[..., None]
    meaningful = np.where(rows, np.abs(change) - 3 * tol, -np.inf)
    idx = np.unravel_index(int(np.argmax(meaningful)), meaningful.shape)
    assume(meaningful[idx] > 0)  # an input where the option must show
    with_option, without_option = ctx.call(case), ctx.call(without)
    kernel_change = as_float64(with_option.out)[idx] - as_float64(without_option.out)[idx]
    error = abs(kernel_change - change[idx])
    if error == 0:
        return HOLDS
    # An approximate kernel's two outputs are each within their call's certificate more.
    allowed = tol[idx] + sum(float(c.certificate.out[idx[:-1]]) for c in (with_option, without_option)
                             if c.certificate is not None)
    ratio = float(error_ratio(error, allowed))
    return Outcome(ratio, f"{option}: out{format_index(idx)} changed by {kernel_change:.6g} when the "
                          f"exact output changes by {change[idx]:.6g} (tolerance {allowed:.3g})")
