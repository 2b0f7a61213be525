"""No future leak: what the declared causal alignment and window hide from a row cannot reach it.

Claim (docs/kernel-contract.md: "key j is visible iff mask allows it, causal allows it, and
window allows it"): if the keys, values and mask columns that causal masking or the window hide
from query row i are changed, out[b, h, i] and lse[b, h, i] do not change, bit for bit. A correct
kernel never reads a hidden score into its maximum, normaliser or sum, so the claim is exact
whatever the kernel's precision; it needs no oracle value, and so it is checked at context lengths
no oracle comparison reaches (key lengths to 4099 at ci, 16384 at thorough).

It catches what an oracle at small shapes misses: a block-pooled or compressed path that lets a
token read its own, incomplete block (docs/claims.md, section 4), a tile loop that decides
causality per tile and lets a row read the rest of its diagonal tile, a long-context code path
with an off-by-one in its causal limit, a tail tile that reads past the row's last visible key.

One check perturbs every key position from ``t`` on (the future) or, when the window's left edge
hides the past, every position before ``t``; ``t`` comes from the recipe's ``variant``, and the
rows compared are exactly those that the declaration hides every perturbed position from (mask
columns are flipped too, and the rows compared ignore them either way). Keys are rotated along
the feature axis and values replaced by -v - 1, so every perturbed value differs from the
original, and the scores keep the magnitudes that the recipe's regime drew (a perturbation that
overflowed a score to inf could turn a masked-out score into NaN in a kernel that masks by adding
-inf, which is an overflow, not a leak).
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st

from attnspec.properties.attention.cases import AttentionCase, clone_like
from attnspec.properties.attention.forward.catalogue import claim
from attnspec.properties.attention.forward.hygiene import bits
from attnspec.properties.attention.strategies import Limits, recipes
from attnspec.properties.engine.property import HOLDS, Outcome

# Key lengths past a tile edge of every common tile size (16..128) and past a multiple of 1024,
# where long-context code paths start. A plan's cap is 60 x its max_len: quick (33) reaches
# 1021 keys, ci (70) 4099 and thorough (300) 16384. Longest first: hypothesis starts from (and
# shrinks toward) the first entry, and its derandomized ci draws otherwise stay near the short
# end (measured: one case in 40 past 1000 keys with the shortest first).
LEAK_KV_LENGTHS = (16384, 8191, 4099, 2048, 1021, 257, 129, 65, 17)
LEAK_Q_LENGTHS = (2, 3, 7, 16, 17, 63, 64, 65, 127, 128, 129)
# Cap on B * Hq * Lq * Lk per call: two calls per case; 2^20 scores cost a dense float32 kernel
# ~30 ms on one core (measured on the reference kernels), so the 25 random ci cases stay within
# seconds (the cover's 19 cells take their own, shorter lengths).
LEAK_MAX_SCORES = 2**20


def applies(spec) -> str | None:
    if not spec.causal and not spec.window:
        return "the declaration has neither causal nor window: no key is hidden by position"
    if not spec.deterministic:
        return "the kernel declares deterministic: False, and a leak is judged bit for bit"
    return None


@st.composite
def draw_hidden_positions(draw, spec, dtype: str, limits: Limits):
    """A recipe with causal masking or a window on, Lq >= 2 and Lk to 60 x the plan's max_len;
    in a cell of the cover, the cell's lengths (Lq at least 2) and shape."""
    modes = (["causal"] if spec.causal else []) + (["window"] if spec.window else [])
    mode = draw(st.sampled_from(modes))
    if limits.cell is not None:
        q_len, kv_len = max(2, limits.cell.q_len), limits.cell.kv_len
        if spec.restricted(f"{mode}_needs_equal_lengths"):
            q_len = kv_len
        fixed = dict(q_len=q_len, kv_len=kv_len)
    else:
        cap = 60 * limits.max_len
        kv_len = draw(st.sampled_from([n for n in LEAK_KV_LENGTHS if n <= cap]))
        q_len = draw(st.one_of(st.sampled_from(LEAK_Q_LENGTHS), st.integers(2, 2 * limits.max_len)))
        q_heads = draw(st.sampled_from([1, 2])) if spec.gqa else 1
        q_len = max(2, min(q_len, LEAK_MAX_SCORES // (q_heads * kv_len)))
        if spec.restricted(f"{mode}_needs_equal_lengths"):  # Lq = Lk, under the scores cap
            kv_len = q_len = next(n for n in LEAK_KV_LENGTHS if n * n * q_heads <= LEAK_MAX_SCORES
                                  and n <= kv_len)
        fixed = dict(batch=draw(st.integers(1, 2)) if q_len * kv_len * q_heads <= 2**19 else 1,
                     q_heads=q_heads, kv_heads=1, q_len=q_len, kv_len=kv_len)
    fixed.update(return_lse=spec.lse, variant=draw(st.floats(0.0, 1.0, exclude_max=True))
                 if limits.cell is None else limits.cell.variant)
    if mode == "causal":
        fixed["causal"] = True
    else:
        # A right edge below Lq - 1 hides the last key from row 0; a left edge below Lk - 1
        # hides the first key from the last row: either way some position is hidden.
        right = st.integers(0, min(64, q_len - 2))
        left = st.integers(0, min(64, kv_len - 2))
        fixed["window"] = draw(st.one_of(st.tuples(st.none() | left, right),
                                         st.tuples(left, st.none() | right)))
    return draw(recipes(spec, dtype, limits, **fixed))


def visible_bounds(recipe, alignment: str | None) -> tuple[np.ndarray, np.ndarray]:
    """int64 [Lq] each: the first and last key position that causal and window leave visible
    to each query row (mask aside): row i sees lo[i] <= j <= hi[i]."""
    q_len, kv_len = recipe.q_len, recipe.kv_len
    i = np.arange(q_len, dtype=np.int64)
    offset = kv_len - q_len
    hi = np.full(q_len, kv_len - 1, dtype=np.int64)
    lo = np.zeros(q_len, dtype=np.int64)
    if recipe.causal:
        hi = np.minimum(hi, i if alignment == "top_left" else i + offset)
    if recipe.window is not None:
        left, right = recipe.window
        if right is not None:
            hi = np.minimum(hi, i + offset + right)
        if left is not None:
            lo = np.maximum(lo, i + offset - left)
    return lo, hi


def hidden_span(recipe, alignment: str | None) -> tuple[str, int, np.ndarray] | None:
    """Which key positions to perturb and which rows must not see them: ("future", t, rows)
    perturbs positions >= t, ("past", t, rows) positions < t; rows is bool [Lq]. None when the
    declaration hides no key position from any row of this shape."""
    lo, hi = visible_bounds(recipe, alignment)
    kv_len = recipe.kv_len
    spans = []
    if hi.min() < kv_len - 1:  # some row cannot see the last key: perturb a suffix
        first = max(int(hi.min()) + 1, 0)
        spans.append(("future", first, kv_len - 1))
    if lo.max() > 0:  # some row cannot see the first key: perturb a prefix
        spans.append(("past", 1, min(int(lo.max()), kv_len)))
    if not spans:
        return None
    pick = recipe.variant * len(spans)
    direction, low, high = spans[int(pick)]
    t = low + int((pick - int(pick)) * (high - low + 1))
    rows = hi < t if direction == "future" else lo >= t
    return direction, t, rows


def perturbed(case: AttentionCase, direction: str, t: int) -> AttentionCase:
    """The case with the key positions of the span changed (k rotated along D, v -> -v - 1,
    mask columns flipped); q and every other option unchanged. The copies keep the originals'
    strides and storage offsets: a kernel may take another code path for another layout, and
    SDPA's CPU flash kernel then differs in the last bit (measured), which is no leak."""
    span = slice(t, None) if direction == "future" else slice(0, t)
    k, v = clone_like(case.k), clone_like(case.v)
    k[:, :, span] = case.k[:, :, span].roll(1, dims=-1)
    v[:, :, span] = -case.v[:, :, span] - 1
    kwargs = dict(case.kwargs)
    if kwargs.get("mask") is not None:
        mask = clone_like(kwargs["mask"])
        mask[..., span] = ~mask[..., span]
        kwargs["mask"] = mask
    return AttentionCase(case.recipe, case.q, k, v, kwargs)


def first_changed_row(name: str, before: torch.Tensor, after: torch.Tensor,
                      rows: np.ndarray) -> str | None:
    """Where ``after`` differs from ``before`` in the protected ``rows`` (dim 2), bit for bit,
    except that -0.0 equals 0.0 (adding 0.0 turns -0.0 into 0.0 and changes nothing else): the
    sign of an exact zero, such as an empty row's sum of zero weights times values, may follow
    the signs of hidden values without any hidden value reaching the result."""
    index = torch.from_numpy(np.flatnonzero(rows)).to(before.device)
    a, b = before.index_select(2, index) + 0.0, after.index_select(2, index) + 0.0
    differs = bits(a) != bits(b)
    if not differs.any():
        return None
    where = [int(x) for x in torch.nonzero(differs)[0]]
    where[2] = int(index[where[2]])
    changed = int(differs.reshape(*differs.shape[:3], -1).any(-1).sum())
    return (f"{name}[{', '.join(map(str, where))}] changed from {before[tuple(where)].item()!r} to "
            f"{after[tuple(where)].item()!r} ({changed} protected row(s) changed)")


@claim(
    "no_future_leak",
    "keys, values and mask columns hidden by causal masking or the window do not change a "
    "row's out or lse, bit for bit",
    applies=applies,
    draw=draw_hidden_positions,
)
def no_future_leak(ctx, recipe, device):
    span = hidden_span(recipe, ctx.spec.causal)
    if span is None:  # the draw hides a position from some row by construction
        raise AssertionError(f"no key position is hidden in {recipe.describe()}")
    direction, t, rows = span
    case = ctx.case(recipe, device)
    before, after = ctx.call(case), ctx.call(perturbed(case, direction, t))
    found = changed_rows(before, after, rows)
    if not found:
        return HOLDS
    again = changed_rows(before, ctx.call(case), rows)
    if again:
        return Outcome(float("inf"), "two calls on the same input already differ in the rows "
                                     "compared, so a leak cannot be told apart from "
                                     "nondeterminism (declare deterministic: False): " + again)
    hidden = f"keys j >= {t}" if direction == "future" else f"keys j < {t}"
    rule = f"causal ({ctx.spec.causal})" if recipe.causal else f"window {recipe.window}"
    return Outcome(float("inf"), f"{hidden}, which {rule} hides from the rows compared, were "
                                 f"changed, and " + found)


def changed_rows(before, after, rows: np.ndarray) -> str:
    """What changed between two calls in the protected rows ("" if nothing did)."""
    found = [first_changed_row("out", before.out, after.out, rows)]
    if before.lse is not None and after.lse is not None:
        found.append(first_changed_row("lse", before.lse, after.lse, rows))
    return "; ".join(f for f in found if f)
