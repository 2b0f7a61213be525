"""Fast high-precision attention (oracle tier 2): double-double results with a derived bound.

Claim: for an AttentionProblem (docs/kernel-contract.md "What correct means"), the returned
out_hi + out_lo [B, Hq, Lq, Dv] and lse_hi + lse_lo [B, Hq, Lq] satisfy, elementwise,
    |out_hi + out_lo - out| <= out_error_bound,      |lse_hi + lse_lo - lse| <= lse_error_bound,
where out and lse are the exact values (real arithmetic on the exact float64 inputs; scale None
means exactly 1/sqrt(D)). Rows with no visible key get out = 0, lse = -inf and bounds 0.

Accuracy measure (used by the tests, the benchmark and docs/oracles.md): for each output element
the error relative to its natural scale sigma_ic = sum_j w_ij |v_jc| (w the exact softmax
weights; returned as ``out_scale``); "correct digits" = -log10(max_ic |error_ic| / sigma_ic); for
lse the absolute error relative to max(|lse|, 1). Rounding errors of any finite-precision
evaluation of a weighted sum are proportional to the magnitudes of its terms, and the kernel
budgets this oracle serves are proportional to the same scale, so 1e-30 of it is ~1e14 below
any budget. Elements that are tiny by cancellation are NOT claimed to relative precision.

What the bound certifies (u = 2^-53): without softcap about 20 u^2 sigma (30.6 digits) whatever
the inputs (the exponent arguments are carried as triples, so keys far below the maximum cost
nothing). With softcap c the exponent arguments are double-doubles up to 2c in size, known to
~c u^2 (the design's "absolute accuracy ~c 2^-106"): the bound is then 29-30 digits, lower
(down to ~23 seen) when an element's sigma sits on keys ~60 below the maximum, where the
measured error is ~30 digits. Two further exceptions, both inside the bound: weights below
2^-1022 of a row's largest (x < -708.4) are flushed to 0 (absolute error 2^-1021 each), so an
element whose sigma comes only from such keys (sigma < ~2^-900 max_j |v_jc|) is not resolved;
and outputs below the float64 range are returned as 0.

Sources: Ozaki, Ogita, Oishi, Rump, Numer. Algorithms 59 (2012) (exact products,
exact_products.py); Dekker, Numer. Math. 18 (1971), and Joldes, Muller, Popescu, ACM TOMS 44(2)
(2017) (double-double arithmetic, double_double.py); Tang, ACM TOMS 15(2) (1989) (table-driven
exp, double_double_exp.py); Higham, "Accuracy and Stability of Numerical Algorithms" (2002),
eq. (3.13) (error of float64 matrix products); everything else elementary.

Layout: this module holds the claim, the driver (fast_exact_attention and its per-chunk
stages) and the final bounds below; fast_exact_scores.py the exact score differences and
exponent arguments (steps 2-3), fast_exact_softcap.py the softcapped arguments (step 3),
fast_exact_bounds.py the a-priori bounds and level choices (steps 2, 4 and 5), each with its
derivations; tier_comparison.py measures a result against tier 1 in the accuracy measure above.

Domain: every contract option (GQA/MQA, both causal alignments, window, mask, ALiBi, softcap,
explicit scale including 0 and negative, Lq != Lk, empty rows, batch > 1) and finite inputs
with |scale| max|q| max|k| D < 2^900, |slope| Lk < 2^900, and q[b, h], k[b, g], v[b, g] each
scalable by a power of two without underflow (no nonzero entry below 2^-1000 of its matrix's
largest; checked, ValueError otherwise).

Method, per (batch, query head), in chunks of query rows (shapes [R, Lk] per chunk):
1. Scores. Rows of q and the whole k[b, g] are scaled exactly to maxima in [1/2, 1) (the
   factor goes into a per-row scale' = scale 2^(eq_i + ek)). S_ij = q_i.k_j = sum_s L_s[i, j] +
   T[i, j]: exact levels L_s of Ozaki slices with k on ONE global grid, and a float64 tail T
   (exact_products.level_products, by level), the slice width beta leaving one bit of headroom
   so that the difference of two entries of one row of a level is exact.
2. Reference key r_i: argmax over visible keys of float64 scores (any key near the maximum
   serves; the exponent arguments below are then <= ~1e-9). Delta_s = L_s[i, j] - L_s[i, r_i]
   are exact; D_ij = S_ij - S_ir = sum_s Delta_s + Delta_T is summed by two_sum into a triple
   Dh + Dl + D3 (fast_exact_scores._difference_dd_into) whose only error is a per-row a-priori
   R (fast_exact_bounds._score_row_error: float64 roundings of terms below 2^-60 |q||k| and the
   tail's bound). The number of levels S is the smallest in 3..7 with |scale'| R <= u^2 / 16
   (fast_exact_bounds._choose_qk_levels; 5 for float64 inputs with logits up to ~1e6; fp32/fp16
   inputs have fewer slices).
3. Exponent arguments x_ij = s_ij - s_ir = scale' D, formed as a triple xh + xl + x3 from exact
   two_prods (scale' itself a triple for 1/sqrt(D)), error <= 8u |x3| + 160 u^3 |x|
   (fast_exact_scores._mul_scale3_into): no u^2 |x| term, which would dominate for keys far
   below the maximum. ALiBi adds -slope (|i+off-j| - |i+off-r|), formed exactly by two_prod, by
   two_sums. With softcap c: x = c (tanh a - tanh b), a = scale' S_ij / c, b = scale' S_ir / c,
   evaluated in double-double as sinh(a - b) / (cosh a cosh b) without cancellation
   (fast_exact_softcap._softcap_x), error bounded per element. Invisible keys get x = -747:
   weight exactly 0.
4. Weights w^ = exp(x) (double_double_exp.dd_exp_into with the triple argument: relative error
   <= 6u^2 + 2^-20 u^2 |x|, plus 2^-1021 absolute where exp(x) < 2^-1022, flushed to 0). With
   |exp(x^) - exp(x)| <= exp(x) e_x (1 + e_x): |w^_j - w_j| <= e_w,j w_j + eta,
   e_w = e_x (1 + 2^-40) + 6u^2 + (2^-20 u^2 + 160 u^3) |x|, eta = 2^-1021.
5. Sums. V' = [V | 1] with columns scaled exactly to maxima in [1/2, 1); w^ (double-double) and
   V' are multiplied by exact_products.level_products (by slice): exact levels plus a float64
   tail with its rank-one bound (measured row maxima of the weight slices). S = w^ |V'| and
   G = (w^ e_w) |V'| are float64 products (rounded up by gamma_Lk). The number of levels is the
   smallest in 4..7 whose a-priori tail bound is <= u^2/8 of S
   (fast_exact_bounds._choose_pv_levels; 5 for float64 inputs). Where the float64 tail would
   still miss u^2/8 of S for some element (values that are zero on the heavy keys and nonzero
   on keys of weight e^-60, say), the weights' remainder is split again on its own finer grids
   (up to 14 passes, down to the flush level) and the slices concerned are multiplied by all
   of V's slices exactly. All exact terms are accumulated smallest first into a double-double
   (DWPlusFP, 2u^2 of each partial sum, counted a posteriori):
   N^_c = sum_j w^_j v'_jc within errN_c; the last column gives D^ = sum_j w^_j / 2^ev.
6. out = N^ / D^ (dd_div, 4u^2), scaled back by powers of two; lse = s_ir + log(D^ 2^ev)
   (dd_log), s_ir the reference score as a double-double.

Error bound for out (exact algebra; N~, D~ the exact sums over the computed weights w^, out* the
exact output):
    |N~/D~ - out*| = |sum_j (w^_j - w_j)(v_j - out*)| / D~
                   <= (G_c + sigma* G_den + eta (colsum|v'_c| + sigma* Lk)) / D~,
    |N^/D^ - N~/D~| <= (errN_c + |N~/D~| errN_den) / (D^ - errN_den),
    |out - N^/D^|   <= 4u^2 |out|,
using |out*_c| <= sigma*_c <= S_c / D_low, D_low = D^ (1 - 4u) - errN_den - G_den - eta Lk (a
lower bound on D~ and on the exact denominator), every float64 evaluation rounded up by
(1 + 2^-30). For lse: |log D^ - log D*| <= errD / D_low, errD = errN_den + G_den + eta Lk, plus
dd_log's bound (17u^2 + 5u^2 |log D|), the reference score's bound and one dd_add (3u^2 |lse|).

Cost for float64 inputs: ~13 BLAS products of the size of Q K^T and ~15 of P V (fp32-valued
inputs: ~4 and ~10), and ~230 float64 passes over the scores, done in row blocks that stay in
cache, without allocating, on two threads. Memory: ~6 arrays of [chunk_rows, Lk] plus the
slices of K and V (about 370 MB for [1, 1, 4096, 128]).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import mpmath
import numpy as np

from attnspec.oracles.arithmetic.double_double import (
    ADD_D,
    ADD_DD,
    DIV_DD,
    MUL_D,
    U,
    U2,
    dd_add,
    dd_add_d,
    dd_div,
    dd_from_mpf,
    split,
    two_prod,
    two_sum,
    two_sum_into,
)
from attnspec.oracles.arithmetic.double_double_exp import (
    EXP_ABS,
    EXP_REL,
    EXP_REL_PER_X,
    EXP_UNDERFLOW_X,
    ExpWorkspace,
    LOG_ABS,
    LOG_REL_PER_LOG,
    dd_exp_into,
    dd_log,
)
from attnspec.oracles.arithmetic.double_double_exp import prepare as prepare_constants
from attnspec.oracles.arithmetic.exact_products import Slices, gamma, level_products, slice_bits, split_slices
from attnspec.oracles.attention.fast_exact.bounds import (
    _PV_LEVELS,
    _PV_TARGET,
    _QK_LEVELS,
    _REL_UP,
    _SUBNORMAL_SCALE,
    _UP,
    _X3_REL,
    _choose_pv_levels,
    _choose_qk_levels,
    _d3_max,
    _plain_weight_error,
)
from attnspec.oracles.attention.fast_exact.scores import _difference_dd, _difference_dd_into, _mul_scale, _mul_scale3_into
from attnspec.oracles.attention.fast_exact.softcap import _softcap_x
from attnspec.oracles.attention.problem import AttentionProblem
from attnspec.oracles.attention.visibility import alibi_distance, visible_keys

_MASKED_X = EXP_UNDERFLOW_X  # exponent argument of invisible keys: weight exactly 0
_MAX_PV_PASSES = 14  # 14 passes of ~80 bits reach the flush threshold 2^-1022
_BLOCK_ELEMENTS = 1 << 15  # elementwise work in row blocks of about this many scores (L2 cache)
_CHUNK_ELEMENTS = 3 << 20  # P V products in row chunks of about this many scores
_QK_ELEMENTS = 1 << 20  # Q K^T products in sub-chunks of about this many scores
# sigma_ic below this fraction of max_j |v_jc| is not resolved: it comes from weights below
# 2^-1022 of the row's largest, which are flushed to 0 (module docstring, tier_comparison.py)
RESOLVABLE_SIGMA = 2.0**-900


@dataclass(frozen=True)
class FastExactAttention:
    """Tier-2 attention values (module docstring for the claim and the bounds).

    out_hi, out_lo, out_error_bound, out_scale: float64 [B, Hq, Lq, Dv]; the value is hi + lo.
    lse_hi, lse_lo, lse_error_bound: float64 [B, Hq, Lq]. empty: bool [B, Hq, Lq].
    out_scale is sigma_ic = sum_j w_ij |v_jc| (softmax weights) to float64 accuracy.
    reference_key (int64, -1 on empty rows) and reference_score [B, Hq, Lq] name the key of
    (near-)largest score used as the exponent reference; see :meth:`weight_summary`.
    """

    out_hi: np.ndarray
    out_lo: np.ndarray
    lse_hi: np.ndarray
    lse_lo: np.ndarray
    out_error_bound: np.ndarray
    lse_error_bound: np.ndarray
    out_scale: np.ndarray
    empty: np.ndarray
    reference_key: np.ndarray
    reference_score: np.ndarray

    @property
    def out(self) -> np.ndarray:
        """out rounded to float64 [B, Hq, Lq, Dv]."""
        return self.out_hi + self.out_lo

    @property
    def lse(self) -> np.ndarray:
        """lse rounded to float64 [B, Hq, Lq]."""
        return self.lse_hi + self.lse_lo

    def weight_summary(self) -> dict[str, np.ndarray]:
        """Per row [B, Hq, Lq]: the reference key and its score (within ~1e-9 of the row's
        largest score) and log sum_j exp(s_ij - s_ir) = lse - s_ir, the log of the effective
        number of keys sharing the attention (0 when one key takes it all; NaN on empty rows)."""
        with np.errstate(invalid="ignore"):
            log_mass = np.where(self.empty, np.nan, self.lse - self.reference_score)
        return {
            "reference_key": self.reference_key,
            "max_score": self.reference_score,
            "log_weight_mass": log_mass,
        }


# --- helpers --------------------------------------------------------------------------------


def _scale_exactly(x: np.ndarray, axis: int | None, name: str):
    """x 2^-e with max |.| in [1/2, 1) along ``axis`` (e int64, keepdims); exactness checked."""
    m = np.max(np.abs(x), axis=axis, keepdims=True)
    _, e = np.frexp(m)
    e = np.where(m > 0, e, 0).astype(np.int64)
    y = np.ldexp(x, -e)
    if not np.array_equal(np.ldexp(y, e), x):
        raise ValueError(
            f"{name}: a nonzero entry below 2^-1000 of its matrix's largest cannot be scaled "
            "exactly (outside the fast oracle's domain; use the certified oracle)"
        )
    return y, e


def _scale_triple(problem: AttentionProblem) -> tuple[float, float, float]:
    """scale as s1 + s2 + s3: exact for a given scale; 1/sqrt(D) to within u^3 otherwise
    (s1 + s2 its nearest double-double, s3 the rest rounded)."""
    if problem.scale is not None:
        return float(problem.scale), 0.0, 0.0
    with mpmath.workprec(400):
        x = 1 / mpmath.sqrt(problem.head_dim)
        h, l = dd_from_mpf(x)
        return h, l, float(x - mpmath.mpf(h) - mpmath.mpf(l))


class _Workspace:
    """Per-thread scratch arrays for one block shape (the hot loop allocates nothing)."""

    def __init__(self, shape):
        self.f = [np.empty(shape) for _ in range(6)]
        self.x, self.dh, self.dl, self.d3, self.xh, self.xl, self.x3 = (
            np.empty(shape) for _ in range(7)
        )
        self.b = np.empty(shape, dtype=bool)
        self.exp = ExpWorkspace(shape)


_LOCAL = threading.local()


def _workspace(shape) -> _Workspace:
    cache = getattr(_LOCAL, "cache", None)
    if cache is None:
        cache = _LOCAL.cache = {}
    ws = cache.get(shape)
    if ws is None:
        if len(cache) > 4:
            cache.clear()
        ws = cache[shape] = _Workspace(shape)
    return ws


_POOL: ThreadPoolExecutor | None = None


def _run_blocks(fn, blocks, threads: int):
    """fn(s0, s1) over row blocks, on ``threads`` threads (numpy releases the GIL in its loops)."""
    global _POOL
    if threads <= 1 or len(blocks) <= 1:
        for s0, s1 in blocks:
            fn(s0, s1)
        return
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="attnspec-tier2")

    def work(part):
        for s0, s1 in part:
            fn(s0, s1)

    futures = [_POOL.submit(work, blocks[t::2]) for t in range(2)]
    for f in futures:
        f.result()


# --- the oracle -----------------------------------------------------------------------------


def fast_exact_attention(
    problem: AttentionProblem, *, chunk_rows: int | None = None, threads: int | None = None
) -> FastExactAttention:
    """Tier-2 exact attention of ``problem`` (module docstring).

    chunk_rows: query rows per P V chunk (default: about 3 * 2^20 scores, 768 rows at Lk = 4096;
    Q K^T in sub-chunks of about 2^20). Larger chunks mean fewer, larger BLAS calls (which
    suffer less when other processes compete for the cores) and more memory.
    threads: 1 or 2 threads for the elementwise work (default: 2 when two cores exist)."""
    p = problem
    B, Hq, Lq, D = p.q.shape
    Lk, Dv = p.kv_len, p.value_dim
    prepare_constants()  # before any worker thread needs them
    if threads is None:
        threads = 2 if (os.cpu_count() or 1) >= 2 else 1
    out_hi = np.zeros((B, Hq, Lq, Dv))
    out_lo = np.zeros((B, Hq, Lq, Dv))
    out_err = np.zeros((B, Hq, Lq, Dv))
    out_scale = np.zeros((B, Hq, Lq, Dv))
    lse_hi = np.full((B, Hq, Lq), -np.inf)
    lse_lo = np.zeros((B, Hq, Lq))
    lse_err = np.zeros((B, Hq, Lq))
    ref_key = np.full((B, Hq, Lq), -1, dtype=np.int64)
    ref_score = np.full((B, Hq, Lq), -np.inf)
    visible = visible_keys(p)
    empty = ~visible.any(axis=-1)
    dist = alibi_distance(p).astype(np.float64) if p.alibi_slopes is not None else None
    scale_h, scale_l, scale_3 = _scale_triple(p)
    if chunk_rows is None:
        chunk_rows = max(1, min(Lq, _CHUNK_ELEMENTS // max(Lk, 1)))
    qk_rows = max(1, min(chunk_rows, _QK_ELEMENTS // max(Lk, 1)))
    block_rows = max(1, _BLOCK_ELEMENTS // max(Lk, 1))

    beta_qk = slice_bits(D, max(_QK_LEVELS), difference_headroom=True)
    beta_pv = slice_bits(Lk, max(_PV_LEVELS))

    for b in range(B):
        for g in range(p.kv_heads):
            kn, ek = _scale_exactly(p.k[b, g], None, "k")
            ks = split_slices(np.ascontiguousarray(kn.T), axis=None, beta=beta_qk,
                              max_slices=max(_QK_LEVELS) - 1)
            v_ext = np.concatenate([p.v[b, g], np.ones((Lk, 1))], axis=1)
            vn, ev = _scale_exactly(v_ext, 0, "v")
            vs = split_slices(vn, axis=0, beta=beta_pv, max_slices=max(_PV_LEVELS) - 1)
            kv = _KV(
                ks=ks, vs=vs, ek=int(ek.item()), ev=ev[0],
                v_abs=np.abs(vn),
                v_colsum=np.sum(np.abs(vn), axis=0) * (1 + gamma(Lk)),
                rem_colsums={bb: np.sum(np.abs(r), axis=0) * (1 + gamma(Lk))
                             for bb, r in vs.rems.items()},
            )
            for h in range(g * p.group_size, (g + 1) * p.group_size):
                qn, eq = _scale_exactly(p.q[b, h], 1, "q")
                slope = None if p.alibi_slopes is None else float(p.alibi_slopes[h])
                for i0 in range(0, Lq, chunk_rows):
                    i1 = min(Lq, i0 + chunk_rows)
                    c = _Chunk(
                        p=p, kv=kv, qn=qn[i0:i1], e_row=eq[i0:i1, 0] + kv.ek,
                        visible=visible[b, h, i0:i1], empty=empty[b, h, i0:i1],
                        dist=None if dist is None else dist[i0:i1], slope=slope,
                        scale_h=scale_h, scale_l=scale_l, scale_3=scale_3,
                        beta_qk=beta_qk, beta_pv=beta_pv,
                        block_rows=block_rows, qk_rows=qk_rows, threads=threads,
                    )
                    oh, ol, oe, osc, lh, ll, le, rk, rs = c.run()
                    out_hi[b, h, i0:i1] = oh
                    out_lo[b, h, i0:i1] = ol
                    out_err[b, h, i0:i1] = oe
                    out_scale[b, h, i0:i1] = osc
                    lse_hi[b, h, i0:i1] = lh
                    lse_lo[b, h, i0:i1] = ll
                    lse_err[b, h, i0:i1] = le
                    ref_key[b, h, i0:i1] = rk
                    ref_score[b, h, i0:i1] = rs
    return FastExactAttention(out_hi, out_lo, lse_hi, lse_lo, out_err, lse_err, out_scale,
                              empty, ref_key, ref_score)


@dataclass
class _KV:
    ks: Slices  # k^T [D, Lk], scaled by 2^-ek, one global grid
    vs: Slices  # V' [Lk, Dv + 1], columns scaled by 2^-ev
    ek: int
    ev: np.ndarray
    v_abs: np.ndarray
    v_colsum: np.ndarray
    rem_colsums: dict


@dataclass
class _Chunk:
    """One chunk of query rows of one (batch, head): the matrix products and the per-block
    elementwise stages (weights; slices of the weights)."""

    p: AttentionProblem
    kv: _KV
    qn: np.ndarray
    e_row: np.ndarray
    visible: np.ndarray
    empty: np.ndarray
    dist: np.ndarray | None
    slope: float | None
    scale_h: float
    scale_l: float
    scale_3: float
    beta_qk: int
    beta_pv: int
    block_rows: int
    qk_rows: int
    threads: int

    def run(self):
        R, D = self.qn.shape
        Lk = self.kv.ks.rems[0].shape[1]
        e_row = self.e_row.astype(np.int64)
        sc_h = np.ldexp(self.scale_h, e_row)[:, None]  # scale' per row, a triple
        sc_l = np.ldexp(self.scale_l, e_row)[:, None]
        if R and float(np.max(np.abs(sc_h))) * D >= 2.0**900:
            raise ValueError("scores beyond 2^900: outside the fast oracle's domain")
        self.sc_h, self.sc_l = sc_h, sc_l
        self.sc_3 = np.ldexp(self.scale_3, e_row)[:, None]
        self.sc_split = split(sc_h)
        self.sc_lsplit = split(sc_l)

        # 1-4. in sub-chunks of rows: exact levels of the normalised scores (Q K^T), then per
        # block: reference key, D, x, weights (written into wh, wl for the whole chunk)
        self.plain = self.p.softcap is None and self.dist is None
        self.wh = np.empty((R, Lk))
        self.wl = np.empty((R, Lk))
        self.whe = None if self.plain else np.empty((R, Lk))
        self.r = np.zeros(R, dtype=np.int64)
        self.srh = np.zeros(R)
        self.srl = np.zeros(R)
        self.sr_err = np.zeros(R)
        self.wmax = np.zeros(R)
        self.R_qk = np.zeros((R, 1))
        self.ew_row = np.zeros(R)
        for q0 in range(0, R, self.qk_rows):
            q1 = min(R, q0 + self.qk_rows)
            scale_abs_max = float(np.max(np.abs(sc_h[q0:q1]))) * (1 + 2 * U)
            S_qk, R_qk = _choose_qk_levels(D, self.beta_qk, scale_abs_max)
            self.R_qk[q0:q1] = R_qk
            if self.plain:
                self.ew_row[q0:q1] = _plain_weight_error(
                    np.abs(sc_h[q0:q1, 0]) * (1 + 4 * U), R_qk, _d3_max(D, self.beta_qk, S_qk), D
                )
            qs = split_slices(self.qn[q0:q1], axis=1, beta=self.beta_qk, max_slices=S_qk - 1)
            lp = level_products(qs, self.kv.ks.truncated(S_qk - 1), S_qk, by="level")
            self.levels, self.tail, self.q0 = lp.levels, lp.tail, q0
            del lp, qs
            blocks = [(s, min(q1, s + self.block_rows)) for s in range(q0, q1, self.block_rows)]
            _run_blocks(self._weights_block, blocks, self.threads)
            del self.levels, self.tail
        blocks = [(s, min(R, s + self.block_rows)) for s in range(0, R, self.block_rows)]

        # 5. S = w |V'|, G = (w e_w) |V'|; P V' exactly
        kv = self.kv
        S_mag = self.wh @ kv.v_abs
        S_up = S_mag * (1 + gamma(Lk + 4))
        if self.plain:
            # e_w is a row constant up to terms below 2^-116 (module docstring, step 4): no G product
            G_up = self.ew_row[:, None] * S_up * _REL_UP
        else:
            G = self.whe @ kv.v_abs
            G_up = G * (1 + gamma(Lk + 4)) * _REL_UP
        del self.whe
        w_exp = np.frexp(self.wmax)[1].astype(np.float64)[:, None]
        w_exp = np.where(self.empty[:, None], 0.0, w_exp)
        S_pv = _choose_pv_levels(w_exp, self.beta_pv, kv.vs, kv.rem_colsums, kv.v_colsum,
                                 S_mag, Lk)
        n_w = S_pv - 1
        self.parts = [np.empty((R, Lk)) for _ in range(n_w)]
        self.pmax = np.empty((R, n_w))
        self.rmax = np.empty(R)
        floor = _PV_TARGET * S_mag
        exponent = w_exp
        passes = []
        for depth in range(_MAX_PV_PASSES):
            # slices of wh + wl; the remainder replaces wh + wl in place (row block by row block)
            self.sigmas = [np.ldexp(1.5 * 2.0**52, (exponent - a * self.beta_pv).astype(np.int64))
                           for a in range(1, n_w + 1)]
            _run_blocks(self._slice_block, blocks, self.threads)
            rmax = self.rmax[:, None].copy()
            ws = Slices(self.parts, {0: self.wh, n_w: self.wh}, exponent, self.beta_pv, 1, True,
                        False, self.wl,
                        [self.pmax[:, a : a + 1].copy() for a in range(n_w)], rmax)
            # another pass on the remainder if its float64 product would not meet the target
            # somewhere (weights far below the row's largest carry that element's scale);
            # remainders below 2^-990 are left to the float64 tail (near the flush level)
            g = gamma(Lk + 2 * S_pv + kv.vs.count) + U
            next_exp = np.frexp(rmax)[1].astype(np.float64)
            need = np.any(g * rmax * kv.v_colsum[None, :] > floor, axis=1) & (rmax[:, 0] >= 2.0**-990)
            more = depth + 1 < _MAX_PV_PASSES and bool(np.any(need))
            # slices whose float64 product with V's remainder would miss the target somewhere
            # (a weight far below the row's largest carries that element's scale) are
            # multiplied by all of V's slices, exactly
            full = frozenset(
                a for a in range(1, n_w + 1)
                if S_pv - a < kv.vs.count
                and np.any(g * self.pmax[:, a - 1 : a]
                           * kv.rem_colsums[min(S_pv - a, kv.vs.count)][None, :] > floor)
            )
            passes.append(level_products(ws, kv.vs, S_pv, by="slice", include_remainder=not more,
                                         full=full))
            del ws
            if not more:
                break
            lowest = -1018.0 + n_w * self.beta_pv  # keeps every slice grid >= 2^-1018
            exponent = np.where(rmax > 0, np.maximum(next_exp, lowest), 0.0)
        del self.parts, self.wh, self.wl
        # accumulate smallest first: deepest pass first, and within a pass tail, extra, levels
        terms = []
        for lp_ in passes[::-1]:
            terms.append(lp_.tail)
            terms.extend(lp_.extra[::-1])
            terms.extend(lp_.levels[::-1])
        acc_h = terms[0]
        acc_l = np.zeros_like(acc_h)
        acc_abs = np.zeros_like(acc_h)
        for L in terms[1:]:
            acc_h, acc_l = dd_add_d(acc_h, acc_l, L)
            acc_abs += np.abs(acc_h)
        errN = acc_abs * (ADD_D * (1 + 4 * U))
        for lp_ in passes:
            errN += lp_.tail_bound()
        n_vis = np.sum(self.visible, axis=1).astype(np.float64)
        eta = np.repeat(EXP_ABS * kv.v_colsum[None, :], R, axis=0)  # sum_j eta |v'_jc|
        eta[:, -1] = EXP_ABS * n_vis * np.max(kv.v_abs[:, -1])

        # 6. out = N / D, bounds, lse
        safe = ~self.empty[:, None]
        den_h = np.where(safe, acc_h[:, -1:], 1.0)
        den_l = np.where(safe, acc_l[:, -1:], 0.0)
        oh, ol = dd_div(acc_h[:, :-1], acc_l[:, :-1], den_h, den_l)
        errD = errN[:, -1:] + G_up[:, -1:] + eta[:, -1:]
        D_low = np.maximum(den_h * (1 - 4 * U) - errD, np.finfo(float).tiny)
        sigma = S_mag[:, :-1] / den_h
        sigma_up = S_up[:, :-1] / D_low
        out_abs = np.abs(oh) * (1 + 4 * U)
        bound = (
            (G_up[:, :-1] + sigma_up * G_up[:, -1:] + eta[:, :-1] + sigma_up * eta[:, -1:])
            / D_low
            + (errN[:, :-1] + out_abs * errN[:, -1:]) / D_low
            + DIV_DD * out_abs
        ) * _UP
        shift = (kv.ev[:-1] - kv.ev[-1]).astype(np.int64)
        oh = np.where(safe, np.ldexp(oh, shift), 0.0)
        ol = np.where(safe, np.ldexp(ol, shift), 0.0)
        bound = np.where(safe, np.ldexp(bound, shift), 0.0)
        sigma = np.where(safe, np.ldexp(sigma, shift), 0.0)

        ev_den = int(kv.ev[-1])
        lgh, lgl = dd_log(np.ldexp(den_h[:, 0], ev_den), np.ldexp(den_l[:, 0], ev_den))
        lh, ll = dd_add(self.srh, self.srl, lgh, lgl)
        rel = errD[:, 0] / D_low[:, 0]
        lerr = (
            self.sr_err + LOG_ABS + LOG_REL_PER_LOG * np.abs(lgh) + rel * (1 + rel)
            + ADD_DD * np.abs(lh)
        ) * _UP
        ok = safe[:, 0]
        lh = np.where(ok, lh, -np.inf)
        ll = np.where(ok, ll, 0.0)
        lerr = np.where(ok, lerr, 0.0)
        rk = np.where(ok, self.r, -1)
        rs = np.where(ok, self.srh + self.srl, -np.inf)
        return oh, ol, bound, sigma, lh, ll, lerr, rk, rs

    # -- stages 2-4 on rows s0:s1 of the chunk ----------------------------------------------
    def _weights_block(self, s0: int, s1: int):
        p = self.p
        sl = slice(s0, s1)
        n = s1 - s0
        Lk = self.visible.shape[1]
        ws = _workspace((n, Lk))
        f = ws.f
        rows = np.arange(n)
        lsl = slice(s0 - self.q0, s1 - self.q0)  # rows of the current Q K^T sub-chunk
        levels = [L[lsl] for L in self.levels]
        tail = self.tail[lsl]
        R_qk = self.R_qk[sl]
        vis = self.visible[sl]
        masked = not vis.all()  # no mask, causal or window cut in these rows: skip the masking
        inv = np.logical_not(vis, out=ws.b) if masked else None
        sc_h = self.sc_h[sl]
        sc_l = self.sc_l[sl]
        dist = None if self.dist is None else self.dist[sl]
        X = ws.x

        # reference key: argmax of float64 scores over visible keys
        if len(levels) > 1:
            np.add(levels[0], levels[1], out=X)
        else:
            np.copyto(X, levels[0])
        X *= sc_h
        if p.softcap is not None:
            X *= 1.0 / p.softcap
            np.tanh(X, out=X)
            X *= p.softcap
        if dist is not None:
            X -= self.slope * dist
        if masked:
            np.copyto(X, -np.inf, where=inv)
        r = np.argmax(X, axis=1)

        # exact differences to the reference, and the reference score itself
        cols = [L[rows, r][:, None] for L in levels]
        tcol = tail[rows, r][:, None]
        Dh, Dl, D3 = ws.dh, ws.dl, ws.d3
        Srh, Srl = _difference_dd(cols, tcol)
        Sr_err = U2 * _REL_UP * np.abs(Srh) + R_qk
        d_rel = U2 * _REL_UP
        mul_rel = MUL_D + (2 * U2 if self.scale_l != 0.0 else 0.0)
        xh, xl, x3 = ws.xh, ws.xl, ws.x3
        sc_hh, sc_hl = self.sc_split[0][sl], self.sc_split[1][sl]
        srh, srl = _mul_scale(Srh, Srl, sc_h, sc_l, sc_hh, sc_hl)
        sr_err = (np.abs(srh) * mul_rel * (1 + 4 * U) + np.abs(sc_h) * Sr_err
                  + _SUBNORMAL_SCALE * p.head_dim)

        if p.softcap is None:
            # x = scale' D as a triple: no u^2 |x| rounding (the |x|-proportional error of a
            # double-double argument would dominate for keys far below the maximum)
            _difference_dd_into(levels, cols, tail, tcol, Dh, Dl, f, out_3=D3)
            sc3 = (sc_h, sc_l, self.sc_3[sl])
            split3 = ((sc_hh, sc_hl), (self.sc_lsplit[0][sl], self.sc_lsplit[1][sl]))
            _mul_scale3_into(Dh, Dl, D3, sc3, split3, xh, xl, x3, f)
            if not self.plain:
                ex = np.abs(x3)
                ex *= 8 * U
                ex += np.abs(sc_h) * (R_qk * (1 + 4 * U)) + _SUBNORMAL_SCALE * p.head_dim
            use3 = True
        else:
            _difference_dd_into(levels, cols, tail, tcol, Dh, Dl, f)
            Sh, Sl = _difference_dd(levels, tail)  # S_ij itself, summed from the levels
            xh_, xl_, ex, srh, srl, sr_err = _softcap_x(
                p.softcap, Sh, Sl, Dh, Dl, Srh, Srl, sc_h, sc_l, d_rel, R_qk, Sr_err
            )
            np.copyto(xh, xh_)
            np.copyto(xl, xl_)
            use3 = False

        if dist is not None:  # ALiBi: -slope (d_ij - d_ir), exact, added exactly (two_sum)
            dcol = dist[rows, r][:, None]
            bh, bl = two_prod(-self.slope, dist - dcol)
            before = np.abs(xh) + np.abs(bh)
            s1_, e1 = two_sum(xh, bh)
            t, e2 = two_sum(xl, bl)
            t, e3 = two_sum(t, e1)
            h2, l2 = two_sum(s1_, t)
            np.copyto(xh, h2)
            np.copyto(xl, l2)
            if use3:
                x3 += e2 + e3
                ex += 2 * U * (np.abs(x3) + np.abs(e2) + np.abs(e3))
            else:  # the softcap's double-double: one rounding of the low part
                l3 = e2 + e3
                h2, l2 = two_sum(xh, xl + l3)
                np.copyto(xh, h2)
                np.copyto(xl, l2)
                ex += 2 * U * (np.abs(l3) + np.abs(xl)) + U2 * before
            arh, arl = two_prod(-self.slope, dcol)
            srh, srl = dd_add(srh, srl, arh, arl)
            sr_err = sr_err * (1 + ADD_DD) + ADD_DD * (1 + 4 * U) * np.abs(srh)

        if masked:
            np.copyto(xh, _MASKED_X, where=inv)
            np.copyto(xl, 0.0, where=inv)
        wh = self.wh[sl]
        wl = self.wl[sl]
        if use3:
            if masked:
                np.copyto(x3, 0.0, where=inv)
            dd_exp_into(xh, xl, wh, wl, ws.exp, x3)
        else:
            dd_exp_into(xh, xl, wh, wl, ws.exp)
        if not self.plain:
            # w^ e_w for G: e_w = e_x (1 + 2^-40) + EXP_REL + (EXP_REL_PER_X + X3_REL) |x|
            E = self.whe[sl]
            np.abs(xh, out=X)
            X *= EXP_REL_PER_X + _X3_REL
            X += EXP_REL
            ex *= _REL_UP
            X += ex
            np.multiply(X, wh, out=E)
        self.wmax[sl] = np.max(wh, axis=1)
        self.r[sl] = r
        self.srh[sl] = srh[:, 0]
        self.srl[sl] = srl[:, 0]
        self.sr_err[sl] = sr_err[:, 0]

    # -- stage 5a on rows s0:s1: slices of the weights ---------------------------------------
    def _slice_block(self, s0: int, s1: int):
        sl = slice(s0, s1)
        ws = _workspace((s1 - s0, self.visible.shape[1]))
        R, E, S, T = ws.f[:4]
        r, e = self.wh[sl], self.wl[sl]
        for a, (sigma, dest) in enumerate(zip(self.sigmas, self.parts)):
            sg = sigma[sl]
            part = dest[sl]
            np.add(r, sg, out=part)  # (r + s) - s: r rounded to the slice grid (exact)
            part -= sg
            np.subtract(r, part, out=S)  # exact remainder
            two_sum_into(S, e, R, E, T)  # fold the low part: R + E = remainder, exactly
            r, e = R, E
            np.abs(part, out=T)
            self.pmax[sl, a] = np.max(T, axis=1)
        np.copyto(self.wh[sl], r)  # the remainder (hi, lo) replaces the weights it came from
        np.copyto(self.wl[sl], e)
        np.abs(r, out=T)
        self.rmax[sl] = np.max(T, axis=1)
