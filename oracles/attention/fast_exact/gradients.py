"""Fast high-precision gradients of attention (oracle tier 2): double-double dQ, dK, dV with a
derived elementwise bound.

Claim: for a GradientProblem (gradient_problem.py: L = <dO, out> + <dlse, lse>), the returned
dq_hi + dq_lo [B, Hq, Lq, D], dk_hi + dk_lo [B, Hk, Lk, D], dv_hi + dv_lo [B, Hk, Lk, Dv]
satisfy, elementwise,
    |dq_hi + dq_lo - dQ| <= dq_bound,   |dk_hi + dk_lo - dK| <= dk_bound,
    |dv_hi + dv_lo - dV| <= dv_bound,
where dQ, dK, dV are the exact gradients (real arithmetic on the exact float64 inputs; scale None
means exactly 1/sqrt(D)). Rows with no visible key have dq exactly 0 with bound 0.

Natural scales (``scales``; the definitions of tier 1, certified_gradients.py): the sizes of the
terms each element is a sum of, every difference expanded. With sigma_ic = sum_j P_ij |v_jc| and
    A_ij = P_ij (sum_c |dO_ic| |v_jc| + sum_c |dO_ic| sigma_ic + |dlse_i|) (1 - tanh^2(r_ij / c))
(the last factor 1 without softcap):
    dq: |scale| sum_j A_ij |k_jc|,  dk: |scale| sum_{h in group, i} A_ij |q_ic|,
    dv: sum_{h in group, i} P_ij |dO_ic|.
A_ij >= |dR_ij| bounds the terms of dR_ij = P_ij (dP_ij - D_i) (...): the scales do not vanish
where a gradient's terms cancel (with Lk = 1 and dlse = 0, dQ = dK = 0 exactly while A > 0), and
every error below is proportional to them. Returned to float64 accuracy (computed from the
rounded P, dR; sum_c |dO_ic| sigma_ic evaluated as sum_j P_ij sum_c |dO_ic| |v_jc|).

What the bound certifies (u = 2^-53; tests/oracles/test_fast_exact_gradients.py and the
benchmark): bound / natural scale ~5e-31..5e-30 (29.3-30.3 digits) for random inputs of
moderate logits, softcap or float32-valued inputs included, growing with the logits as ~|s| u^2
(scores ~200: ~3e-29; ~1e3: ~2e-28); the measured error is ~1e-32..1e-30. Exceptions, all
inside the bound: (i) weights below 2^-1022 of a row's largest are flushed to 0 (2^-1021 each,
counted), so an element whose scale comes only from such weights is not resolved; (ii) every
rounding below the float64 normal range is covered by an absolute floor of 2^-990 of the
normalised units (the product of the matrices' largest entries, see Notation), and rows or
columns below ~2^-860 of those units are split on coarser grids than their own: elements whose
scale is below ~2^-800 of the units, or outside the float64 range, are not resolved;
(iii) the product tails are bounded by row maxima (dd_products.py): an element whose scale sits
on keys far below its row's largest weight while its K (or Q, dO) column vanishes on the
heavy keys may not reach u^2 of its scale (up to 7 levels are tried first).

Sources: Ozaki, Ogita, Oishi, Rump, Numer. Algorithms 59 (2012) (exact products,
exact_products.py, dd_products.py); Dekker, Numer. Math. 18 (1971), Joldes, Muller, Popescu, ACM
TOMS 44(2) (2017) (double-double arithmetic and its bounds ADD_D, ADD_DD, MUL_D, MUL_DD, DIV_DD,
double_double.py, dd_kernels.py); Tang, ACM TOMS 15(2) (1989) (exp, double_double_exp.py);
Higham, "Accuracy and Stability of Numerical Algorithms" (2002), eq. (3.13) (float64 products of
non-negative matrices, rounded up by gamma); everything else elementary.

Domain: every contract option (GQA/MQA, both causal alignments, window, mask, ALiBi, softcap,
explicit scale including 0 and negative, Lq != Lk, empty rows, batch > 1) and finite inputs with
|scale| max|q| max|k| D < 2^900, q, k, v, d_out each scalable by a power of two without
underflow (no nonzero entry below 2^-1000 of its matrix's largest), dlse within 2^900 of
max|d_out| max|v|, exponent arguments known to better than 2^-20 (scores below ~2^80) and
gradients inside the float64 range; ValueError otherwise (callers then use tier 1).

Notation. Per (batch b, query head h, kv head g = h // group): q~ = q 2^-eq_i (per row, for the
scores), q^ = q 2^-eQ, k~ = k 2^-ek, v~ = v 2^-ev, dO~ = dO 2^-eo (whole matrices): exact powers
of two, maxima in [1/2, 1) (driver._scale_exactly). scale'_i = scale 2^(eq_i + ek) = s1 + s2 + s3
(driver._scale_triple, a triple for 1/sqrt(D), each part ldexp'd). Units of 2^(eo + ev) for
dP~ = dO~ v~^T, D~, Delta, dS~ and dR~ = dS~ g, g = 1 - tanh^2(t) (g = 1 without softcap);
dlse~ = dlse 2^-(eo+ev). Then dQ = scale 2^(eo+ev+ek) dR~ k~, dK = sum_h scale 2^(eo+ev+eQ_h)
dR~_h^T q^_h, dV = sum_h 2^(eo_h) P_h^T dO~_h. For a computed y^ (hi + lo), e_y bounds |y^ - y|.
Factors (1 + O(u)) from the float64 evaluation of the bounds and from |hi + lo| <= |hi| (1 + u)
are covered by _UP = 1 + 2^-30 at each stage (none of the bound expressions subtracts).

Method and bound, per (b, h) in chunks of query rows (shapes [R, Lk]), steps 2-11 in row blocks:
1. Scores S~ = q~ k~^T: exact levels and a float64 tail (exact_products.level_products by level,
   as the forward's step 1), summed into a double-double in the order of scores._difference_dd
   (dd_kernels.levels_dd_into): e_S~ <= (1 + 2^-40) u^2 |S~| + R_qk, R_qk =
   bounds._score_row_error (derived there for differences of two entries, each term bounded by
   twice a single entry's: it bounds one entry's sum too); the fewest levels (4..7) with
   max(|scale'|, 1) R_qk <= 2^-96 (4 levels give R_qk <= 2^-106 up to D = 64, 2^-101.4 at
   D = 128).
2. Scores s. Without softcap: r = scale' S~ (scores._mul_scale's arithmetic, relative
   eps_m = MUL_D (+ 2u^2 (1 + 2^-40) when s2 != 0)); the dropped s3 and the ldexp of scale' cost
   |s3| (1 + 2u) + 2^-1070 per unit of |S~| <= D; an underflowing two_prod error term 2^-1060:
       e_r <= ((1 + 2^-40) u^2 + eps_m)(1 + 2^-40) |r| + |scale'| R_qk
              + (|s3| + 2^-1070) D + 2^-1060.
   With softcap c: t = S~ tau, tau = (s1 + s2) / c (dd_div, DIV_DD), the same product:
       e_t <= ((1 + 2^-40) u^2 + eps_m + DIV_DD) |t| + |tau| R_qk
              + (|s3| + 2^-1070) D / c + 2^-1060  (<= 2^-20, checked);
   E = exp(-2|t|) (dd_exp: relative eps_E = EXP_REL + EXP_REL_PER_X 2|t|, plus EXP_ABS);
   T = sign(t) (1 - E) / (1 + E) (two dd_add_d, dd_div): tanh is 1-Lipschitz and
   |d/dE (1 - E)/(1 + E)| <= 2, so e_T <= e_t + 2 (E eps_E + EXP_ABS) + (2 ADD_D + DIV_DD) |T|;
   s = c T (dd_mul_d): e_s = c e_T + MUL_D |s|. g = 4E / (1 + E)^2 (dd_mul, dd_div): |d ln g/d ln E|
   = (1 - E)/(1 + E) <= 1 and |g'(t)| <= 2 g, so e_g <= g (2 e_t (1 + 2^-18) + eps_E + 2 ADD_D +
   MUL_DD + DIV_DD) + 4 EXP_ABS. ALiBi adds -slope |i + Lk - Lq - j| (two_prod: exact but for an
   underflowing error term, 2^-1060) by dd_add: + ADD_DD |s|.
3. x = s - m_i, m_i the largest visible fl(s) of the row (any float64 serves; 0 on empty rows):
   DWPlusFP, e_x = e_s + ADD_D |x| <= 2^-20 (checked). Hidden keys get x = -747 (weight exactly 0).
4. w = exp(x) (dd_exp: relative t_w <= EXP_REL + EXP_REL_PER_X |x|, plus EXP_ABS where the result
   is below 2^-969 or flushed below 2^-1022). |exp(x^) - exp(x)| <= exp(x^) e_x (1 + e_x), so
       |w^ - w| <= E_w = w^ eps_w + EXP_ABS [visible],
       eps_w = e_x (1 + 2^-20) + EXP_REL + EXP_REL_PER_X |x|.
5. Z = sum_j w^_j, pairwise (dd_kernels.dd_rowsum_into, depth d = ceil(log2 Lk), all terms >= 0):
   e_Z = sum_j E_w,j + d ADD_DD Z (Z >= ~1: the row's largest key has x ~ 0; 1 on empty rows).
6. P = w^ (1/Z^) (dd_div: DIV_DD; dd_kernels.mul_row_into: MUL_D + 2u^2 (1 + 2^-40)). With
   |w^/Z^ - w/Z| <= E_w / Z^ + P e_Z / Z^:
       E_P = P^ (eps_w + e_Z / Z^ + DIV_DD + MUL_D + 2u^2 (1 + 2^-40)) + EXP_ABS / Z^ [visible].
7. dP~ = dO~ v~^T as step 1 (dO~ rows on their own grids 2^e_i, v~ on one grid; the fewest
   levels with R_dp <= 2^-96): e_dP <= (1 + 2^-40) u^2 |dP~| + R_dp 2^e_i (0 where dO_i = 0).
8. D~_i = sum_j P_ij dP~_ij - dlse~_i (= dO~_i . O~_i - dlse~_i, as O = P V): T = P^ dP^ (dd_mul),
   summed pairwise, then dd_add_d:
       e_D = sum_j [E_P (|dP^| + e_dP) + P^ e_dP + MUL_DD |T|] + d ADD_DD sum_j |T| + ADD_D |D~|.
9. Delta = dP~ - D~ (dd_add): e_Delta = e_dP + e_D + ADD_DD |Delta|.
10. dS~ = P^ Delta^ (dd_mul): |P^ Delta^ - P Delta| <= E_P (|Delta^| + e_Delta) + P^ e_Delta, so
       E_S = E_P (|Delta^| + e_Delta) + P^ e_Delta + MUL_DD |dS~|;
    under softcap dR~ = dS~ g (dd_mul): E_R = g^ E_S + (|dS~| + E_S) e_g + MUL_DD |dR~|;
    else E_R = E_S.
11. Natural-scale matrix A~ = P^ (|dO~| |v~|^T + beta_i) g^, beta_i = sum_j P^_ij (|dO~||v~|^T)_ij
    + |dlse~_i| (float64).
12. Products: dR~ k~ [R, D], dR~^T q^ [Lk, D], P^T dO~ [Lk, Dv], each a double-double left factor
    times a float64 right factor (dd_products.py: exact levels, the float64 tail and its bound,
    the levels summed by DWPlusFP, a posteriori; the fewest levels 3..7 whose a-priori tail is
    <= 2^-100 of the chunk's natural scale). The propagated errors E_R |k~|, E_R^T |q^|, E_P^T |dO~|
    are float64 products of non-negative matrices, rounded up by (1 + gamma_(n+2)). So, e.g.,
       e_dQ~ <= (1 + gamma_(Lk+2)) E_R |k~| + tail_bound + ADD_D sum_t |acc_t|
                + 2^-990 [row visible]
    (the last term covers every rounding below the float64 normal range: each <= 2^-1066, never
    multiplied by more than ~2^20 afterwards in these units). Then times scale (scores._mul_scale,
    _times_scale: |s1| (1 + 2u) e + eps_m |result| + |s3| (1 + 2u)(|x| + e), + 2^-1066 for
    results below the normal range) and 2^(eo+ev+ek) (exact, but for results below 2^-968:
    + 2^-1072); the chunks' and query heads' dK and dV are summed by dd_add (+ ADD_DD |sum|).

Cost at [1, 1, 4096, 128] (float64 inputs): per chunk of rows, ~10 BLAS products of the size of
its Q K^T for the scores, ~10 for dP, 3 x ~14 for the three products and 7 float64 magnitude
products, and ~400 float64 passes over [R, Lk] in row blocks that stay in cache, on two threads:
~8-19 s on two cores, 7-20x the float64 torch forward + backward of the same shape measured
alongside (tests/benchmarks/test_bench_gradient_oracle.py). Memory: ~25 arrays of [R, Lk]
(R = 512 at Lk = 4096): ~0.8 GB peak measured.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np

from attnspec.oracles.arithmetic.double_double import (
    ADD_D,
    ADD_DD,
    DIV_DD,
    MUL_D,
    MUL_DD,
    U2,
    U,
    dd_add,
    dd_add_d,
    dd_div,
    dd_mul,
    dd_mul_d,
    split,
    two_prod,
)
from attnspec.oracles.arithmetic.double_double_exp import (
    EXP_ABS,
    EXP_REL,
    EXP_REL_PER_X,
    EXP_UNDERFLOW_X,
    ExpWorkspace,
    dd_exp,
    dd_exp_into,
)
from attnspec.oracles.arithmetic.double_double_exp import prepare as prepare_constants
from attnspec.oracles.arithmetic.exact_products import (
    gamma,
    level_products,
    slice_bits,
    split_slices,
)
from attnspec.oracles.attention.fast_exact.bounds import _UP, _score_row_error
from attnspec.oracles.attention.fast_exact.dd_kernels import (
    dd_add_d_into,
    dd_add_into,
    dd_mul_into,
    dd_rowsum_into,
    levels_dd_into,
    mul_row_into,
)
from attnspec.oracles.attention.fast_exact.dd_products import (
    MAX_B_SLICES,
    choose_levels,
    grid_exponents,
    left_slices,
    product_dd,
    right_factor,
    sigmas,
    split_dd_block_into,
)
from attnspec.oracles.attention.fast_exact.driver import (
    _run_blocks,
    _scale_exactly,
    _scale_triple,
)
from attnspec.oracles.attention.fast_exact.scores import _mul_scale
from attnspec.oracles.attention.gradient_problem import GradientProblem
from attnspec.oracles.attention.visibility import alibi_distance, visible_keys

_BLOCK_ELEMENTS = 1 << 15  # elementwise work in row blocks of about this many entries (L2 cache)
_CHUNK_ELEMENTS = 1 << 21  # query rows per chunk: about this many [R, Lk] entries (memory)
_LEVELS = (4, 5, 6, 7)  # numbers of levels of Q K^T and dO V^T (slice widths fit 7)
_SCORE_TARGET = 2.0**-96  # a-priori error of scores and dP (module docstring, steps 1 and 7)
_PRODUCT_TARGET = 2.0**-100  # a-priori tail of the three products, relative to their scales
_MAX_EX = 2.0**-20  # exponent arguments must be known to this (absolute): scores below ~2^80
_FLOOR = 2.0**-990  # absolute floor per output element, normalised units (module docstring)
_TINY = 2.0**-1060  # an underflowing two_prod error term or product (<= 2^-1066), generously
_SUBNORMAL = 2.0**-1072  # ldexp of a double-double and its bound into the subnormal range
_SUBNORMAL_PRODUCT = 2.0**-1066  # a double-double times a float64 in the subnormal range


@dataclass(frozen=True)
class FastExactGradients:
    """Tier-2 gradients (module docstring for the claim and the bound).

    Each gradient as a double-double hi + lo with an elementwise upper bound on |hi + lo - exact|:
    dq_* [B, Hq, Lq, D], dk_* [B, Hk, Lk, D], dv_* [B, Hk, Lk, Dv] (float64).
    scales: "dq", "dk", "dv" -> the natural scale of each element (float64; module docstring).
    empty: bool [B, Hq, Lq], rows with no visible key (their dq rows are exactly 0).
    """

    dq_hi: np.ndarray
    dq_lo: np.ndarray
    dq_bound: np.ndarray
    dk_hi: np.ndarray
    dk_lo: np.ndarray
    dk_bound: np.ndarray
    dv_hi: np.ndarray
    dv_lo: np.ndarray
    dv_bound: np.ndarray
    scales: dict[str, np.ndarray]
    empty: np.ndarray

    @property
    def dq(self) -> np.ndarray:
        """dq rounded to float64 [B, Hq, Lq, D]."""
        return self.dq_hi + self.dq_lo

    @property
    def dk(self) -> np.ndarray:
        """dk rounded to float64 [B, Hk, Lk, D]."""
        return self.dk_hi + self.dk_lo

    @property
    def dv(self) -> np.ndarray:
        """dv rounded to float64 [B, Hk, Lk, Dv]."""
        return self.dv_hi + self.dv_lo


def _choose_levels_ab(k: int, beta: int, target: float) -> tuple[int, float]:
    """Smallest S in _LEVELS with _score_row_error(k, beta, S) <= target (else the largest),
    and that error (normalised units: both factors' maxima <= 1)."""
    for S in _LEVELS:
        R = _score_row_error(k, beta, S)
        if R <= target or S == _LEVELS[-1]:
            return S, R
    raise AssertionError  # pragma: no cover


class _Workspace:
    """Per-thread scratch arrays for one block shape (the hot loop allocates nothing)."""

    def __init__(self, shape):
        self.f = [np.empty(shape) for _ in range(18)]
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


# --- the oracle -------------------------------------------------------------------------------


def fast_exact_gradients(
    problem: GradientProblem, *, chunk_rows: int | None = None, threads: int | None = None
) -> FastExactGradients:
    """Tier-2 gradients of ``problem`` (module docstring).

    chunk_rows: query rows per chunk (default: about 2^21 entries of [R, Lk], 512 rows at
    Lk = 4096; memory grows with it). threads: 1 or 2 threads for the elementwise work (default
    2 when two cores exist)."""
    gp = problem
    p = gp.forward
    B, Hq, Lq, D = p.q.shape
    Hk, Lk, Dv = p.kv_heads, p.kv_len, p.value_dim
    prepare_constants()  # before any worker thread needs them
    if threads is None:
        threads = 2 if (os.cpu_count() or 1) >= 2 else 1
    shapes = {"dq": (B, Hq, Lq, D), "dk": (B, Hk, Lk, D), "dv": (B, Hk, Lk, Dv)}
    out = {n: [np.zeros(s) for _ in range(3)] for n, s in shapes.items()}  # hi, lo, bound
    scales = {n: np.zeros(s) for n, s in shapes.items()}
    visible = visible_keys(p)
    empty = ~visible.any(axis=-1)
    if Lq == 0 or Lk == 0:
        return _result(out, scales, empty)
    dist = alibi_distance(p).astype(np.float64) if p.alibi_slopes is not None else None
    scale3 = _scale_triple(p)
    if chunk_rows is None:
        chunk_rows = max(1, min(Lq, _CHUNK_ELEMENTS // Lk))
    block_rows = max(1, _BLOCK_ELEMENTS // Lk)
    beta_qk = slice_bits(D, _LEVELS[-1])
    beta_dp = slice_bits(Dv, _LEVELS[-1])
    beta_q = slice_bits(Lk, _LEVELS[-1])
    S_dp, R_dp = _choose_levels_ab(Dv, beta_dp, _SCORE_TARGET)

    for b in range(B):
        for g in range(Hk):
            kn, ek = _scale_exactly(p.k[b, g], None, "k")
            vn, ev = _scale_exactly(p.v[b, g], None, "v")
            kv = _KV(
                ek=int(ek.item()), ev=int(ev.item()),
                ks=split_slices(np.ascontiguousarray(kn.T), axis=None, beta=beta_qk,
                                max_slices=_LEVELS[-1] - 1),
                vs=split_slices(np.ascontiguousarray(vn.T), axis=None, beta=beta_dp,
                                max_slices=_LEVELS[-1] - 1),
                kq=right_factor(kn, beta_q),
                k_abs=np.abs(kn), vT_abs=np.ascontiguousarray(np.abs(vn).T),
            )
            acc = {"dk": None, "dv": None}
            for h in range(g * p.group_size, (g + 1) * p.group_size):
                head = _Head.build(gp, b, h, kv, empty[b, h])
                for i0 in range(0, Lq, chunk_rows):
                    i1 = min(Lq, i0 + chunk_rows)
                    c = _Chunk(
                        gp=gp, kv=kv, head=head, i0=i0, i1=i1, visible=visible[b, h, i0:i1],
                        empty=empty[b, h, i0:i1, None],
                        dist=None if dist is None else dist[i0:i1],
                        slope=None if p.alibi_slopes is None else float(p.alibi_slopes[h]),
                        scale3=scale3, beta_qk=beta_qk, beta_dp=beta_dp, beta_q=beta_q,
                        S_dp=S_dp, R_dp=R_dp, block_rows=block_rows, threads=threads,
                    )
                    dq, dk, dv = c.run()
                    for arr, val in zip(out["dq"], dq[:3]):
                        arr[b, h, i0:i1] = val
                    scales["dq"][b, h, i0:i1] = dq[3]
                    for name, part in (("dk", dk), ("dv", dv)):
                        acc[name] = part if acc[name] is None else _dd_sum(acc[name], part)
            for name in ("dk", "dv"):
                for arr, val in zip(out[name], acc[name][:3]):
                    arr[b, g] = val
                scales[name][b, g] = acc[name][3]
    for name in shapes:
        if not all(np.all(np.isfinite(a)) for a in out[name]):
            raise ValueError(f"{name} leaves the float64 range: outside the fast oracle's domain")
    return _result(out, scales, empty)


def _result(out, scales, empty) -> FastExactGradients:
    return FastExactGradients(*out["dq"], *out["dk"], *out["dv"], scales, empty)


def _dd_sum(a, b):
    """(h, l, err, scale) + (h, l, err, scale): dd_add (ADD_DD |sum|), errors and scales added."""
    with np.errstate(over="ignore", invalid="ignore"):  # the caller checks the results
        h, l = dd_add(a[0], a[1], b[0], b[1])
    err = (a[2] + b[2] + ADD_DD * np.abs(h)) * _UP
    return h, l, err, a[3] + b[3]


def _times_scale(h, l, err, scale3):
    """scale (h + l) for the triple s1 + s2 + s3 (scores._mul_scale: relative eps_m, and the
    dropped s3 |x|) with its bound (+ 2^-1066 where the result falls below the normal range);
    exactly 0 for scale 0."""
    s1, s2, s3 = scale3
    if s1 == 0.0:
        return np.zeros_like(h), np.zeros_like(h), np.zeros_like(h)
    s1h, s1l = split(np.float64(s1))
    rh, rl = _mul_scale(h, l, np.float64(s1), np.float64(s2), s1h, s1l)
    eps_m = MUL_D + (2 * U2 * (1 + 2.0**-40) if s2 != 0.0 else 0.0)
    bound = (abs(s1) * (1 + 2 * U) * err + eps_m * np.abs(rh)
             + abs(s3) * (1 + 2 * U) * (np.abs(h) + err)) * _UP
    # results (or bounds) below the normal range: each of the ~10 roundings is <= 2^-1075
    low = ((h != 0) | (err != 0)) & ((np.abs(rh) < 2.0**-968) | (bound < 2.0**-968))
    return rh, rl, bound + np.where(low, _SUBNORMAL_PRODUCT, 0.0)


def _to_real(h, l, err, e: int):
    """(h + l) 2^e and its bound: exact, but for results pushed below the normal range."""
    with np.errstate(over="ignore"):  # the caller checks the results are finite
        rh, rl, re = np.ldexp(h, e), np.ldexp(l, e), np.ldexp(err, e)
    if e < 0:
        low = ((h != 0) | (err != 0)) & ((np.abs(rh) < 2.0**-968) | (re < 2.0**-968))
        re = re + np.where(low, _SUBNORMAL, 0.0)
    return rh, rl, re


@dataclass
class _KV:
    """One kv head: k~, v~ exponents and the splittings of the products that read them."""

    ek: int
    ev: int
    ks: object  # k~^T [D, Lk], one global grid (scores)
    vs: object  # v~^T [Dv, Lk], one global grid (dP)
    kq: object  # k~ [Lk, D], per-column grids (dR k~)
    k_abs: np.ndarray  # |k~| [Lk, D]
    vT_abs: np.ndarray  # |v~|^T [Dv, Lk]


@dataclass
class _Head:
    """One (batch, query head): its scalings and dlse in the units of dP~."""

    qn: np.ndarray  # q~ [Lq, D], rows scaled to [1/2, 1)
    eq: np.ndarray  # [Lq, 1] int
    qg: np.ndarray  # q^ [Lq, D], scaled as a whole
    eQ: int
    dOn: np.ndarray  # dO~ [Lq, Dv]
    eo: int
    ndlse: np.ndarray  # -dlse~ [Lq, 1] (0 on empty rows)

    @classmethod
    def build(cls, gp: GradientProblem, b: int, h: int, kv: _KV, empty) -> _Head:
        p = gp.forward
        qn, eq = _scale_exactly(p.q[b, h], 1, "q")
        qg, eQ = _scale_exactly(p.q[b, h], None, "q")
        dOn, eo = _scale_exactly(gp.d_out[b, h], None, "d_out")
        eo = int(eo.item())
        unit = eo + kv.ev  # dP~, D~, dS~, dR~ are in units of 2^(eo + ev)
        dlse = np.where(empty, 0.0, gp.d_lse_or_zeros()[b, h])  # empty rows take no dlse
        dlse_n = np.ldexp(dlse, -unit)
        if not (np.array_equal(np.ldexp(dlse_n, unit), dlse)
                and np.all(np.abs(dlse_n) < 2.0**900)):
            raise ValueError("d_lse too far from max|d_out| max|v| to scale exactly: outside "
                             "the fast oracle's domain")
        return cls(qn, eq, qg, int(eQ.item()), dOn, eo, -dlse_n.reshape(-1, 1))


@dataclass
class _Chunk:
    """Query rows i0:i1 of one (batch, head): the steps of the module docstring."""

    gp: GradientProblem
    kv: _KV
    head: _Head
    i0: int
    i1: int
    visible: np.ndarray  # [R, Lk]
    empty: np.ndarray  # [R, 1]
    dist: np.ndarray | None
    slope: float | None
    scale3: tuple
    beta_qk: int
    beta_dp: int
    beta_q: int
    S_dp: int
    R_dp: float
    block_rows: int
    threads: int

    def run(self):
        p = self.gp.forward
        hd, kv = self.head, self.kv
        rows = slice(self.i0, self.i1)
        R = self.i1 - self.i0
        Lk, D = p.kv_len, p.head_dim
        s1, s2, s3 = self.scale3
        e_row = hd.eq[rows].astype(np.int64) + kv.ek
        sc_h = np.ldexp(s1, e_row)  # scale' per row [R, 1], a triple
        sc_l = np.ldexp(s2, e_row)
        sc_3 = np.abs(np.ldexp(s3, e_row)) * (1 + 2 * U) + 2.0**-1070
        if float(np.max(np.abs(sc_h))) * D >= 2.0**900:
            raise ValueError("scores beyond 2^900: outside the fast oracle's domain")
        self.sc_h, self.sc_l = sc_h, sc_l
        self.sc_split = split(sc_h)
        self.plain = p.softcap is None and self.dist is None
        eps_m = MUL_D + (2 * U2 * (1 + 2.0**-40) if s2 != 0.0 else 0.0)
        scale_abs_max = float(np.max(np.abs(sc_h))) * (1 + 2 * U)

        # 1. scores: exact levels and tail of q~ k~^T
        S_qk, R_qk = _choose_levels_ab(D, self.beta_qk, _SCORE_TARGET / max(scale_abs_max, 1.0))
        qs = split_slices(hd.qn[rows], axis=1, beta=self.beta_qk, max_slices=S_qk - 1)
        lp = level_products(qs, kv.ks.truncated(S_qk - 1), S_qk, by="level")
        self.s_levels, self.s_tail = lp.levels, lp.tail
        del lp, qs
        d_norm = D * (1 + 2.0**-40) + R_qk  # >= |S~|
        if p.softcap is None:
            self.eps1 = ((1 + 2.0**-40) * U2 + eps_m) * (1 + 2.0**-40)
            self.rho = (np.abs(sc_h) * R_qk + sc_3 * d_norm + _TINY) * _UP  # e_r - eps1 |r|
        else:
            c = p.softcap
            ones = np.ones_like(sc_h)
            self.tau_h, self.tau_l = dd_div(sc_h, sc_l, c * ones, 0 * ones)
            self.tau_split = split(self.tau_h)
            self.eps1_t = ((1 + 2.0**-40) * U2 + MUL_D + 2 * U2 * (1 + 2.0**-40) + DIV_DD) * (
                1 + 2.0**-40)
            self.rho_t = (np.abs(self.tau_h) * R_qk + sc_3 * d_norm / c + _TINY) * _UP
        # 7. dP~ = dO~ v~^T: exact levels and tail, dO~ rows on their own grids
        dO_c = hd.dOn[rows]
        row_max = np.max(np.abs(dO_c), axis=1, keepdims=True)
        e_dO = grid_exponents(row_max, self.beta_dp, self.S_dp - 1)
        ds = split_slices(dO_c, axis=1, beta=self.beta_dp, max_slices=self.S_dp - 1,
                          exponent=e_dO)
        lp = level_products(ds, kv.vs.truncated(self.S_dp - 1), self.S_dp, by="level")
        self.p_levels, self.p_tail = lp.levels, lp.tail
        del lp, ds
        self.e_dp_row = self.R_dp * np.ldexp(1.0, e_dO.astype(np.int64)) * (row_max > 0) * _UP
        self.Bmag = np.abs(dO_c) @ kv.vT_abs  # sum_c |dO~_ic| |v~_jc| [R, Lk] (natural only)

        # 2-11 in row blocks
        self.Ph, self.Pl, self.dRh, self.dRl, self.ER, self.EP, self.AM = (
            np.empty((R, Lk)) for _ in range(7))
        blocks = [(s, min(R, s + self.block_rows)) for s in range(0, R, self.block_rows)]
        nb = len(blocks)
        self.rowmax = np.zeros((R, 1))
        self.colmax_r = np.zeros((nb, Lk))
        self.colmax_p = np.zeros((nb, Lk))
        self.ex_max = np.zeros(nb)
        _run_blocks(self._pass1, blocks, self.threads)
        del self.s_levels, self.s_tail, self.p_levels, self.p_tail, self.Bmag
        if float(np.max(self.ex_max)) > _MAX_EX:
            raise ValueError("exponent arguments known to worse than 2^-20 (scores too large): "
                             "outside the fast oracle's domain")

        # 12. natural scales and propagated errors (float64 products of non-negative matrices)
        q_abs = np.abs(hd.qg[rows])
        dO_abs = np.abs(dO_c)
        Nq = self.AM @ kv.k_abs
        Eq = (self.ER @ kv.k_abs) * (1 + gamma(Lk + 2))
        Nk = self.AM.T @ q_abs
        Ek = (self.ER.T @ q_abs) * (1 + gamma(R + 2))
        Nv = self.Ph.T @ dO_abs
        Ev = (self.EP.T @ dO_abs) * (1 + gamma(R + 2))
        del self.AM, self.ER, self.EP

        vis_row = self.visible.any(axis=1, keepdims=True)  # [R, 1]
        vis_col = self.visible.any(axis=0, keepdims=True).T  # [Lk, 1]
        beta_kv = slice_bits(R, _LEVELS[-1])
        nz_r = self.rowmax > 0
        e_r = grid_exponents(self.rowmax, self.beta_q, MAX_B_SLICES)
        colmax_r = np.max(self.colmax_r, axis=0, keepdims=True)  # [1, Lk]
        colmax_p = np.max(self.colmax_p, axis=0, keepdims=True)
        e_k = grid_exponents(colmax_r, beta_kv, MAX_B_SLICES)
        e_v = grid_exponents(colmax_p, beta_kv, MAX_B_SLICES)
        Bq = right_factor(hd.qg[rows], beta_kv)
        Bo = right_factor(dO_c, beta_kv)
        S_q = choose_levels(e_r, nz_r, self.beta_q, kv.kq, _PRODUCT_TARGET * Nq + _FLOOR)
        S_k = choose_levels(e_k.T, (colmax_r > 0).T, beta_kv, Bq, _PRODUCT_TARGET * Nk + _FLOOR)
        S_v = choose_levels(e_v.T, (colmax_p > 0).T, beta_kv, Bo, _PRODUCT_TARGET * Nv + _FLOOR)
        self.sig_q = sigmas(e_r, self.beta_q, S_q - 1)
        self.sig_k = sigmas(e_k, beta_kv, S_k - 1)
        self.sig_v = sigmas(e_v, beta_kv, S_v - 1)
        self.parts_q = [np.empty((R, Lk)) for _ in range(S_q - 1)]
        self.parts_k = [np.empty((R, Lk)) for _ in range(S_k - 1)]
        self.parts_v = [np.empty((R, Lk)) for _ in range(S_v - 1)]
        self.rem_q, self.rem_k, self.rem_v = (np.empty((R, Lk)) for _ in range(3))
        _run_blocks(self._pass2, blocks, self.threads)

        Aq = left_slices(self.parts_q, self.rem_q, self.dRh, e_r, nz_r, self.beta_q)
        qh, ql, qe = product_dd(Aq, kv.kq, S_q)
        del Aq, self.parts_q, self.rem_q
        Ak = left_slices([x.T for x in self.parts_k], self.rem_k.T, self.dRh.T, e_k.T,
                         (colmax_r > 0).T, beta_kv)
        kh, kl, ke = product_dd(Ak, Bq, S_k)
        del Ak, self.parts_k, self.rem_k
        Av = left_slices([x.T for x in self.parts_v], self.rem_v.T, self.Ph.T, e_v.T,
                         (colmax_p > 0).T, beta_kv)
        vh, vl, ve = product_dd(Av, Bo, S_v)
        del Av, self.parts_v, self.rem_v, self.Ph, self.Pl, self.dRh, self.dRl

        qe = (qe + Eq + _FLOOR * vis_row) * _UP
        ke = (ke + Ek + _FLOOR * vis_col) * _UP
        ve = (ve + Ev + _FLOOR * vis_col) * _UP
        unit = hd.eo + kv.ev
        dq = _to_real(*_times_scale(qh, ql, qe, self.scale3), unit + kv.ek)
        dk = _to_real(*_times_scale(kh, kl, ke, self.scale3), unit + hd.eQ)
        dv = _to_real(vh, vl, ve, hd.eo)
        with np.errstate(over="ignore"):  # (results beyond the range raise in the caller)
            dq_scale = abs(s1) * np.ldexp(Nq, unit + kv.ek)
            dk_scale = abs(s1) * np.ldexp(Nk, unit + hd.eQ)
            dv_scale = np.ldexp(Nv, hd.eo)
        return (*dq, dq_scale), (*dk, dk_scale), (*dv, dv_scale)

    # -- steps 2-11 on rows s0:s1 of the chunk ----------------------------------------------
    def _pass1(self, s0: int, s1: int):
        hd = self.head
        sl = slice(s0, s1)
        gsl = slice(self.i0 + s0, self.i0 + s1)  # the same rows in the head's arrays
        n = s1 - s0
        Lk = self.visible.shape[1]
        ws = _workspace((n, Lk))
        f = ws.f
        bi = s0 // self.block_rows
        vis = self.visible[sl]
        masked = not vis.all()
        inv = ~vis if masked else None
        empty = self.empty[sl]
        # 1. S~ as a double-double
        Sh, Sl = f[6], f[7]
        levels_dd_into([L[sl] for L in self.s_levels], self.s_tail[sl], Sh, Sl, f)
        # 2. s (double-double) and its error e_s (in ex); softcap factor g
        sh, slo, ex = f[8], f[9], f[10]
        g = None
        if self.plain:
            mul_row_into(Sh, Sl, self.sc_h[sl], self.sc_l[sl], self.sc_split[0][sl],
                         self.sc_split[1][sl], sh, slo, f)
            np.abs(sh, out=ex)
            ex *= self.eps1
            ex += self.rho[sl]
        else:
            sh_, sl_, ex_, g = self._arguments_slow(sl, Sh, Sl)
            np.copyto(sh, sh_)
            np.copyto(slo, sl_)
            np.copyto(ex, ex_)
        # 3. x = s - m, m the largest visible fl(s) of the row (0 on empty rows)
        A0, A1 = f[0], f[1]
        if masked:
            np.copyto(A0, sh)
            np.copyto(A0, -np.inf, where=inv)
            m = np.max(A0, axis=1, keepdims=True)
        else:
            m = np.max(sh, axis=1, keepdims=True)
        m = np.where(empty, 0.0, m)
        xh, xl = f[6], f[7]
        dd_add_d_into(sh, slo, -m, xh, xl, f[:3])
        np.abs(xh, out=A0)
        np.multiply(A0, ADD_D, out=A1)
        ex += A1  # e_x
        self.ex_max[bi] = max(self.ex_max[bi], float(np.max(ex)))
        ex *= 1 + 2.0**-20  # e_x (1 + e_x), e_x <= 2^-20 (checked)
        A0 *= EXP_REL_PER_X
        ex += A0
        ex += EXP_REL  # eps_w
        if masked:
            np.copyto(xh, EXP_UNDERFLOW_X, where=inv)
            np.copyto(xl, 0.0, where=inv)
        # 4. w = exp(x) (into Ph, Pl), E_w = w eps_w + EXP_ABS [visible] (into EP)
        Ph, Pl, EP = self.Ph[sl], self.Pl[sl], self.EP[sl]
        dd_exp_into(xh, xl, Ph, Pl, ws.exp)
        np.multiply(Ph, ex, out=EP)
        if masked:
            np.add(EP, EXP_ABS, out=EP, where=vis)
        else:
            EP += EXP_ABS
        # 5. Z = sum_j w (pairwise), e_Z = sum_j E_w + d ADD_DD Z
        depth = dd_rowsum_into(Ph, Pl, f[11], f[12], f)
        zh = np.where(empty, 1.0, f[11][:, :1])
        zl = np.where(empty, 0.0, f[12][:, :1])
        e_z = (np.sum(EP, axis=1, keepdims=True) + depth * ADD_DD * zh) * _UP
        # 6. P = w (1/Z) (in place),
        #    E_P = P (eps_w + e_Z/Z + DIV_DD + MUL_D + 2u^2) + EXP_ABS/Z [visible]
        ones = np.ones_like(zh)
        izh, izl = dd_div(ones, 0 * ones, zh, zl)
        iz_split = split(izh)
        mul_row_into(Ph, Pl, izh, izl, iz_split[0], iz_split[1], Ph, Pl, f)
        ex += e_z / zh + (DIV_DD + MUL_D + 2 * U2 * (1 + 2.0**-40))
        np.multiply(Ph, ex, out=EP)
        eta = EXP_ABS / zh
        if masked:
            np.add(EP, np.broadcast_to(eta, EP.shape), out=EP, where=vis)
        else:
            EP += eta
        EP *= _UP
        # 7. dP~ (double-double), e_dP = (1 + 2^-40) u^2 |dP| + R_dp 2^e_i
        dPh, dPl = f[6], f[7]
        levels_dd_into([L[sl] for L in self.p_levels], self.p_tail[sl], dPh, dPl, f)
        edp, adp = f[10], f[13]
        np.abs(dPh, out=adp)
        np.multiply(adp, (1 + 2.0**-40) * U2, out=edp)
        edp += self.e_dp_row[sl]
        # 8. D~_i = sum_j P dP - dlse~: T = P dP (dd_mul), pairwise sum, dd_add_d
        Th, Tl, T = f[8], f[9], f[14]
        dd_mul_into(Ph, Pl, dPh, dPl, Th, Tl, f)
        # e_D = sum_j [E_P (|dP| + e_dP) + P e_dP + MUL_DD |T|] + d ADD_DD sum_j |T| + ADD_D |D|
        np.add(adp, edp, out=T)
        T *= EP
        np.multiply(Ph, edp, out=A0)
        T += A0
        np.abs(Th, out=A0)
        abs_t = np.sum(A0, axis=1, keepdims=True)
        e_d = np.sum(T, axis=1, keepdims=True) + (MUL_DD + ADD_DD * depth) * abs_t
        depth = dd_rowsum_into(Th, Tl, Th, Tl, f)
        Dh, Dl = dd_add_d(Th[:, :1], Tl[:, :1], hd.ndlse[gsl])
        Dh = np.where(empty, 0.0, Dh)
        Dl = np.where(empty, 0.0, Dl)
        e_d = (e_d + ADD_D * np.abs(Dh)) * _UP
        # 9. Delta = dP - D (into f[8], f[9]), e_Delta = e_dP + e_D + ADD_DD |Delta| (in edp)
        Delh, Dell = f[8], f[9]
        dd_add_into(dPh, dPl, -Dh, -Dl, Delh, Dell, f)
        edp += e_d
        aD = f[11]
        np.abs(Delh, out=aD)
        np.multiply(aD, ADD_DD, out=A0)
        edp += A0
        # 10. dS~ = P Delta (into dR directly without softcap),
        #     E_S = E_P (|Delta| + e_Delta) + P e_Delta + MUL_DD |dS|
        if g is None:
            oh, ol = self.dRh[sl], self.dRl[sl]
        else:
            oh, ol = f[6], f[7]
        dd_mul_into(Ph, Pl, Delh, Dell, oh, ol, f)
        ER = self.ER[sl]
        np.add(aD, edp, out=T)
        np.multiply(EP, T, out=ER)
        np.multiply(Ph, edp, out=T)
        ER += T
        np.abs(oh, out=T)
        T *= MUL_DD
        ER += T
        # 11. natural: A = P (|dO~| |v~|^T + beta) g, beta_i = sum_j P |dO~||v~|^T + |dlse~|
        AM = self.AM[sl]
        np.multiply(Ph, self.Bmag[sl], out=AM)
        beta = np.sum(AM, axis=1, keepdims=True) + np.abs(hd.ndlse[gsl])
        np.multiply(Ph, beta, out=T)
        AM += T
        if g is not None:  # softcap: dR~ = dS~ g, E_R = g E_S + (|dS| + E_S) e_g + MUL_DD |dR|
            gh, gl, eg = g
            dRh, dRl = self.dRh[sl], self.dRl[sl]
            dd_mul_into(oh, ol, gh, gl, dRh, dRl, f[:6])
            np.abs(oh, out=T)
            T += ER
            T *= eg
            ER *= gh
            ER += T
            np.abs(dRh, out=T)
            T *= MUL_DD
            ER += T
            AM *= gh
        ER *= _UP
        # maxima of |dR| by row and column, of P by column (the grids of step 12)
        np.abs(self.dRh[sl], out=T)
        self.rowmax[sl, 0] = np.max(T, axis=1)
        self.colmax_r[bi] = np.max(T, axis=0)
        self.colmax_p[bi] = np.max(Ph, axis=0)

    def _arguments_slow(self, sl, Sh, Sl):
        """Step 2 with softcap and/or ALiBi (allocating): s, e_s, and (g, e_g) under softcap
        (else None)."""
        p = self.gp.forward
        bi = sl.start // self.block_rows
        g = None
        if p.softcap is not None:
            c = p.softcap
            th, tl = _mul_scale(Sh, Sl, self.tau_h[sl], self.tau_l[sl], self.tau_split[0][sl],
                                self.tau_split[1][sl])
            e_t = (self.eps1_t * np.abs(th) + self.rho_t[sl]) * _UP
            self.ex_max[bi] = float(np.max(e_t))
            sign = np.where(th < 0, -1.0, 1.0)
            ath, atl = sign * th, sign * tl
            Eh, El = dd_exp(-2 * ath, -2 * atl)
            eps_E = EXP_REL + EXP_REL_PER_X * 2 * ath
            nh, nl = dd_add_d(-Eh, -El, 1.0)
            dh, dl = dd_add_d(Eh, El, 1.0)
            Th, Tl = dd_div(nh, nl, dh, dl)
            e_T = e_t + 2 * (Eh * eps_E + EXP_ABS) + (2 * ADD_D + DIV_DD) * Th
            Th, Tl = sign * Th, sign * Tl
            sh, slo = dd_mul_d(Th, Tl, np.broadcast_to(np.float64(c), Th.shape))
            e_s = c * e_T + MUL_D * np.abs(sh)
            d2h, d2l = dd_mul(dh, dl, dh, dl)
            gh, gl = dd_div(4 * Eh, 4 * El, d2h, d2l)
            e_g = (gh * (2 * e_t * (1 + 2.0**-18) + eps_E + 2 * ADD_D + MUL_DD + DIV_DD)
                   + 4 * EXP_ABS) * _UP
            g = (gh, gl, e_g)
        else:
            sh, slo = _mul_scale(Sh, Sl, self.sc_h[sl], self.sc_l[sl], self.sc_split[0][sl],
                                 self.sc_split[1][sl])
            e_s = self.eps1 * np.abs(sh) + self.rho[sl]
        if self.dist is not None:
            bh, bl = two_prod(-self.slope, self.dist[sl])
            sh, slo = dd_add(sh, slo, bh, bl)
            e_s = e_s + ADD_DD * np.abs(sh) + _TINY
        return sh, slo, e_s * _UP, g

    # -- step 12a on rows s0:s1: slices of dR (row and column grids) and of P (column grids) -
    def _pass2(self, s0: int, s1: int):
        sl = slice(s0, s1)
        f = _workspace((s1 - s0, self.visible.shape[1])).f
        dRh, dRl = self.dRh[sl], self.dRl[sl]
        split_dd_block_into(dRh, dRl, [s[sl] for s in self.sig_q], [x[sl] for x in self.parts_q],
                            self.rem_q[sl], f)
        split_dd_block_into(dRh, dRl, self.sig_k, [x[sl] for x in self.parts_k],
                            self.rem_k[sl], f)
        split_dd_block_into(self.Ph[sl], self.Pl[sl], self.sig_v, [x[sl] for x in self.parts_v],
                            self.rem_v[sl], f)
