"""Hypothesis strategies that draw attention cases the way kernels break.

Peers' suites draw random normal inputs at one seed with equal, even lengths and contiguous
tensors. These strategies draw instead: odd, prime and tile-edge lengths; Lq != Lk both ways
(decode Lq = 1, Lq > Lk); GQA and MQA; head dims that are not multiples of 8 and Dv != D;
batches and heads with distinct data; transposed and offset views; masks with fully masked rows
and broadcast shapes; logits up to ~1e4; near ties; duplicate keys; rows whose score ranges
differ by orders of magnitude; hidden keys carrying the largest logits; explicit scales
(including 0 and negative ones); softcap, ALiBi, windows and causal masks together.

Only the features a kernel declares are ever drawn (docs/kernel-contract.md: the suite never passes a
keyword the kernel did not declare).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import strategies as st

from attnspec.kernels.spec import KEYWORD_CAPABILITY, SCORE_KEYWORDS, KernelSpec

from attnspec.properties.attention.cover import Cell, cell_options, cell_shape, compiled_shape
from attnspec.properties.attention.recipe import Recipe

PRIMES = (2, 3, 5, 7, 11, 13, 17, 31, 37, 61, 67, 101, 127, 131, 257, 509, 1021)
TILE_EDGES = (15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257)
HEAD_DIMS = (16, 24, 40, 64, 72, 80, 96, 100, 128, 160, 256)


@dataclass(frozen=True)
class Limits:
    """Size limits of drawn cases (a profile's choice)."""

    max_len: int = 64
    max_batch: int = 2
    max_heads: int = 4
    max_head_dim: int = 64
    max_scores: int = 2 * 4 * 64 * 64  # cap on B * Hq * Lq * Lk
    long_kv_len: int = 0  # > 0: also draw long rows (decode shapes, Lk up to this)
    long_context: bool = False  # draw only long random contexts (the "long" profile)
    cell: Cell | None = None  # a cell of the cover (attention/cover.py): its pins, not the caps


def lengths(limits: Limits) -> st.SearchStrategy[int]:
    cap = limits.max_len
    return st.one_of(
        st.integers(1, min(8, cap)),
        st.sampled_from([n for n in PRIMES if n <= cap] or [1]),
        st.sampled_from([n for n in TILE_EDGES if n <= cap] or [cap]),
        st.integers(1, cap),
    )


def head_dims(spec: KernelSpec, limits: Limits) -> st.SearchStrategy[int]:
    """Head dims the kernel supports: odd and small ones first, then common model sizes."""
    cap = limits.max_head_dim if spec.max_head_dim is None else min(limits.max_head_dim,
                                                                    spec.max_head_dim)
    m = spec.head_dim_multiple
    small = [d for d in range(m, min(12 * m, cap) + 1, m)]
    common = [d for d in HEAD_DIMS if d <= cap and d % m == 0]
    if not small and not common:
        raise ValueError(f"no head dim is both a multiple of {m} and <= {cap}")
    return st.one_of(st.sampled_from(small or common), st.sampled_from(common or small))


LONG_LENGTHS = (1021, 2048, 4099, 8191, 16384, 65536)


# (Lq, Lk) for a kernel that compiles per shape ("compiled_per_shape"): decode rows, both sides
# of the 16-, 32-, 64- and 128-key tile edges, Lq < Lk and Lq > Lk; with one batch, head and
# head-dim choice each, a ci run draws at most 11 distinct shapes per dtype and layout.
EDGE_LENGTH_PAIRS = ((1, 1), (1, 17), (1, 65), (2, 129), (16, 16), (17, 17), (15, 33), (33, 31),
                     (32, 32), (63, 64), (64, 65), (65, 65), (127, 128), (129, 129))


@st.composite
def edge_shapes(draw, spec: KernelSpec, limits: Limits) -> dict:
    """A shape from EDGE_LENGTH_PAIRS under the limits, with the one batch, head and head-dim
    choice of cover.compiled_shape."""
    pairs = [p for p in EDGE_LENGTH_PAIRS if max(p) <= limits.max_len
             and 2 * 2 * p[0] * p[1] <= limits.max_scores] or [(1, 1)]
    q_len, kv_len = draw(st.sampled_from(pairs))
    return dict(compiled_shape(spec, limits.max_head_dim), q_len=q_len, kv_len=kv_len)


@st.composite
def shapes(draw, spec: KernelSpec, limits: Limits) -> dict:
    """B, Hq, Hk, Lq, Lk, D, Dv under the limits, GQA only when declared; from the short list of
    edge shapes for a kernel that compiles per shape; the cell's shape in a cell of the
    cover."""
    if limits.cell is not None:
        return cell_shape(limits.cell, spec, limits.max_head_dim)
    if spec.compiled_per_shape:
        return draw(edge_shapes(spec, limits))
    if limits.long_kv_len and draw(st.integers(0, 3)) == 0:
        return draw(long_row_shapes(spec, limits))
    batch = draw(st.integers(1, limits.max_batch))
    if spec.gqa:
        kv_heads = draw(st.integers(1, max(1, limits.max_heads // 2)))
        group = draw(st.integers(1, max(1, limits.max_heads // kv_heads)))
        q_heads = kv_heads * group  # group 1 is MHA; kv_heads 1 with group > 1 is MQA
    else:
        q_heads = kv_heads = draw(st.integers(1, limits.max_heads))
    q_len = draw(st.one_of(st.just(1), lengths(limits)))  # decode is common enough to favour
    kv_len = draw(lengths(limits))
    while batch * q_heads * q_len * kv_len > limits.max_scores:  # shrink the longer side
        if q_len >= kv_len and q_len > 1:
            q_len = (q_len + 1) // 2
        elif kv_len > 1:
            kv_len = (kv_len + 1) // 2
        else:
            break
    head_dim = draw(head_dims(spec, limits))
    value_dim = head_dim if spec.dv_equals_d else draw(
        st.one_of(st.just(head_dim), head_dims(spec, limits)))
    return dict(batch=batch, q_heads=q_heads, kv_heads=kv_heads, q_len=q_len, kv_len=kv_len,
                head_dim=head_dim, value_dim=value_dim)


@st.composite
def long_row_shapes(draw, spec: KernelSpec, limits: Limits) -> dict:
    """Decode-like shapes with thousands of keys: where accumulation errors grow."""
    kv_len = draw(st.sampled_from([n for n in LONG_LENGTHS if n <= limits.long_kv_len]))
    kv_heads = 1
    q_heads = draw(st.sampled_from([1, 2])) if spec.gqa else 1
    head_dim = draw(head_dims(spec, Limits(max_head_dim=min(limits.max_head_dim, 128))))
    value_dim = head_dim if spec.dv_equals_d else draw(st.sampled_from([head_dim, 16, 64]))
    if value_dim % spec.head_dim_multiple or not spec.supports_head_dim(value_dim):
        value_dim = head_dim
    return dict(batch=1, q_heads=q_heads, kv_heads=kv_heads, q_len=draw(st.integers(1, 4)),
                kv_len=kv_len, head_dim=head_dim, value_dim=value_dim)


def value_regimes() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {
            "logit_scale": st.one_of(
                st.just(1.0),
                st.floats(0.01, 10.0),
                st.sampled_from([30.0, 300.0, 3000.0]),  # max |s| ~ 3 logit_scale: up to ~1e4
            ),
            "row_spread": st.sampled_from([0.0, 0.0, 1.0, 3.0]),
            "near_ties": st.booleans(),
            "duplicate_keys": st.integers(0, 3),
            "value_offset": st.sampled_from([0.0, 0.0, 3.0, -50.0]),
            "score_shift": st.sampled_from([0.0, 0.0, 40.0, -200.0, -2.0e4]),
        }
    )




@st.composite
def options(draw, spec: KernelSpec, shape: dict) -> dict:
    """Keyword options, each only if the kernel declares it.

    Half the draws turn on at most one of causal, ALiBi, mask, window and softcap, the other half
    draw each independently. Kernels take their fastest path when one option is on alone (SDPA
    passes ``is_causal`` through only when there is no mask, bias or window; FlashAttention has
    a causal flag), and such a path is its own code. Independent draws alone reach "causal and
    nothing else" in 1 draw in 24 for a kernel declaring causal, ALiBi, mask and window (1 in 48
    with softcap too), which a 40-example run can miss; drawing the mode first makes it about 1
    in 8 (1 in 10).
    """
    declared = [KEYWORD_CAPABILITY[k] for k in SCORE_KEYWORDS if spec.accepts(k)]
    alone = draw(st.booleans())
    only = draw(st.sampled_from([None, *declared])) if alone and declared else None

    def wanted(name: str, drawn_on: st.SearchStrategy[bool]) -> bool:
        return name == only if alone else draw(drawn_on)

    out: dict = {}
    if spec.scale:
        out["scale"] = draw(st.one_of(
            st.none(), st.sampled_from([1.0, 0.5, 0.125, 1 / 3, 2.0, 0.0, -0.7])))
    if spec.causal:
        out["causal"] = wanted("causal", st.booleans())
    if spec.alibi:
        out["alibi"] = draw(st.sampled_from(["canonical", "random"])) if wanted(
            "alibi", st.sampled_from([False, True, True])) else None  # 2 in 3, as before
    if spec.mask:
        if wanted("mask", st.booleans()):
            out["mask_density"] = draw(st.floats(0.05, 0.95))
            out["mask_broadcast"] = draw(st.sampled_from(["full", "heads", "shared"]))
            out["empty_rows"] = draw(st.integers(0, 2))
        out["sentinel_trap"] = draw(st.booleans())
    if spec.window:
        side = st.one_of(st.none(), st.integers(0, 8))
        out["window"] = draw(st.tuples(side, side)) if wanted("window", st.booleans()) else None
    if spec.softcap:
        out["softcap"] = draw(st.sampled_from([1.0, 5.0, 30.0, 50.0])) if wanted(
            "softcap", st.booleans()) else None
    if spec.lse:
        out["return_lse"] = draw(st.booleans())
    return out


# Longest first: hypothesis starts from (and shrinks toward) the first entry, and this profile
# exists for the longest contexts.
SPHERE_LENGTHS = (1_000_000, 100_003, 10_007)
PROGRESSION_LENGTHS = (2**20, 2**17, 2**14)  # powers of two: j / Lk is exact


@st.composite
def long_context_recipes(draw, spec: KernelSpec, dtype: str, limits: Limits, **fixed) -> Recipe:
    """Decode-shaped contexts of 1e4..1e6 keys: unit keys on the sphere in the subcritical
    regime (beta = c n^(2/(D-1)), c <= 0.03), scores in arithmetic progression (geometric
    weights, in either key order), or an attention sink over a long tail of tiny weights.
    Exact outputs: tier 2, or the closed form."""
    kind = draw(st.sampled_from(["sink", "sphere", "progression"]))
    q_heads = draw(st.sampled_from([1, 2])) if spec.gqa else 1
    fields = dict(batch=1, q_heads=q_heads, kv_heads=1, q_len=draw(st.sampled_from([1, 2, 4])),
                  dtype=dtype, seed=draw(st.integers(0, 2**32 - 1)), keys=kind,
                  variant=draw(st.floats(0.0, 1.0, exclude_max=True)))
    if kind == "sphere":
        dims = [d for d in (16, 8, 3) if spec.supports_head_dim(d)] or [
            d for d in range(spec.head_dim_multiple, 65, spec.head_dim_multiple)
            if spec.supports_head_dim(d)][:1]
        d = draw(st.sampled_from(dims))
        n = draw(st.sampled_from(SPHERE_LENGTHS))
        c = draw(st.sampled_from([0.003, 0.03]))
        # scores beta <q, k> with q = beta sqrt(D) q_hat: keep q inside float16's range
        beta = min(c * n ** (2 / max(d - 1, 1)), 6.0e4 / d**0.5 / 2)
        fields.update(kv_len=n, head_dim=d, value_dim=d, beta=beta)
    elif kind == "sink":
        dims = [d for d in (4, 16, 64) if spec.supports_head_dim(d)]
        d = draw(st.sampled_from(dims or [spec.head_dim_multiple]))
        fields.update(kv_len=draw(st.sampled_from(SPHERE_LENGTHS)), head_dim=d, value_dim=d,
                      beta=draw(st.sampled_from([14.5, 17.0, 12.0])))
    else:
        # D a perfect square, so the default scale 1/sqrt(D) is a power of two and the scores
        # 8 - beta j are exact; values (1, j/Lk) padded to what the kernel accepts.
        dims = [d for d in (4, 16, 64) if spec.supports_head_dim(d)]
        d = draw(st.sampled_from(dims or [spec.head_dim_multiple]))
        dv = d if spec.dv_equals_d else max(2, spec.head_dim_multiple)
        fields.update(kv_len=draw(st.sampled_from(PROGRESSION_LENGTHS)), head_dim=d,
                      value_dim=dv, beta=draw(st.sampled_from([2.0**-12, 2.0**-8, 2.0**-4])))
    fields.update(fixed)
    return Recipe(**fields)


@st.composite
def recipes(draw, spec: KernelSpec, dtype: str, limits: Limits = Limits(), **fixed) -> Recipe:
    """A full recipe for a kernel of ``spec`` in ``dtype``; ``fixed`` pins any fields."""
    if limits.long_context:
        return draw(long_context_recipes(spec, dtype, limits, **fixed))
    shape = draw(shapes(spec, limits))
    fields = dict(shape, dtype=dtype, seed=draw(st.integers(0, 2**32 - 1)))
    fields.update(draw(value_regimes()))
    fields.update(draw(options(spec, shape)))
    # a compiling kernel recompiles for new strides too: contiguous tensors only
    fields["layout"] = "contiguous" if spec.compiled_per_shape else draw(
        st.sampled_from(["contiguous", "transposed", "offset"]))
    if limits.cell is not None:  # the cell's options over the drawn ones; a property's over both
        fields.update(cell_options(limits.cell, spec))
    fields.update(fixed)
    if fields.get("score_shift") and fields.get("scale") == 0.0:
        fields["score_shift"] = 0.0  # a zero scale cannot carry a score shift
    return Recipe(**within_restrictions(spec, fields))


def within_restrictions(spec: KernelSpec, fields: dict) -> dict:
    """Recipe fields changed so that no combination the kernel declares unsupported
    (``"restrictions"``, kernels/spec.py) is drawn: equal lengths (the shorter) where causal or
    a window needs them (Lq set to Lk: properties size Dv or the keys by Lk), the mask dropped
    where it cannot go with causal or ALiBi."""
    fields = dict(fields)
    if ((spec.restricted("causal_needs_equal_lengths") and fields.get("causal"))
            or (spec.restricted("window_needs_equal_lengths")
                and fields.get("window") is not None)):
        fields["q_len"] = fields["kv_len"]
    masked = fields.get("mask_density") is not None or fields.get("sentinel_trap")  # cases.py
    if masked and ((spec.restricted("mask_excludes_causal") and fields.get("causal"))
                   or (spec.restricted("mask_excludes_alibi") and fields.get("alibi"))):
        fields.update(mask_density=None, empty_rows=0, mask_broadcast="full",
                      sentinel_trap=False)
    return fields


@st.composite
def gradient_recipes(draw, spec: KernelSpec, dtype: str, limits: Limits = Limits(),
                     **fixed) -> Recipe:
    """A recipe for a backward property: a forward recipe (``recipes``) and the incoming
    gradient's regime: dO with both signs or orthogonal to the output row by row (where
    forming D_i = <dO_i, O_i> cancels), in any layout. Near-one-hot P (large logit_scale),
    Lq or Lk = 1, fully masked rows and GQA/MQA groups come from the forward draws."""
    grad = {"grad_out": draw(st.sampled_from(["normal", "orthogonal"])),
            "grad_layout": draw(st.sampled_from(["contiguous", "transposed", "offset"]))}
    grad.update({name: fixed.pop(name) for name in list(fixed) if name in grad})
    recipe = draw(recipes(spec, dtype, limits, **fixed))
    return replace(recipe, **grad)
