"""A-priori error bounds and level choices of the tier-2 oracle (fast_exact.py).

What it does: the bookkeeping that fixes, before any score is computed, how many Ozaki levels
the two products need and what error the un-summed rest leaves:
- _level_magnitudes: bounds on the exact levels L_s and the float64 tail of a product of two
  operands split on the grids of exact_products.py;
- _score_row_error: the a-priori row term R of the score differences D = S_ij - S_ir as
  fast_exact_scores._difference_dd(_into) sums them (step 2 of fast_exact's method), and _d3_max
  the bound on the third component D3 that _difference_dd_into leaves with out_3;
- _plain_weight_error: the row constant bounding the weights' relative error e_w when there is
  neither softcap nor ALiBi (step 4; then no G product is needed);
- _choose_qk_levels, _choose_pv_levels: the smallest number of levels of Q K^T (3..7, score
  error <= u^2/16 in exponent units) and of P V' (4..7, a-priori tail <= u^2/8 of S) (steps 2
  and 5).
The module constants are the targets and the round-up factors shared with fast_exact.py and
fast_exact_softcap.py.

Sources: Ozaki, Ogita, Oishi, Rump, Numer. Algorithms 59 (2012) (slice magnitudes,
exact_products.py); Higham, "Accuracy and Stability of Numerical Algorithms" (2002), eq. (3.13)
(gamma_n, exact_products.gamma); Knuth's two_sum and Dekker, Numer. Math. 18 (1971) (error-free
transforms, double_double.py); Tang, ACM TOMS 15(2) (1989) (the exp bounds EXP_REL,
EXP_REL_PER_X, double_double_exp.py). The derivations are in the docstrings below.
"""

from __future__ import annotations

import numpy as np

from attnspec.oracles.arithmetic.double_double import U, U2
from attnspec.oracles.arithmetic.double_double_exp import EXP_REL, EXP_REL_PER_X
from attnspec.oracles.arithmetic.exact_products import Slices, gamma

_UP = 1 + 2.0**-30  # rounds a float64-evaluated bound up past its own roundings (generously)
_REL_UP = 1 + 2.0**-40
_SUBNORMAL_SCALE = 2.0**-1070  # absolute slack for a per-row scale' in the subnormal range
_X3_REL = 160 * U * U2  # triple product scale' D and its use in exp (_mul_scale3_into)
_QK_LEVELS = (3, 4, 5, 6, 7)
_PV_LEVELS = (4, 5, 6, 7)
_QK_TARGET = U2 / 16  # a-priori score error target (absolute, exponent units)
_PV_TARGET = U2 / 8  # a-priori P V tail target, relative to S


def _level_magnitudes(k: int, beta: int, S: int) -> tuple[list[float], float]:
    """A-priori bounds on |L_s| (s = 2..S) and |tail| for operands with max |.| <= 1 split on grids
    2^-a beta (exact_products module text): M_2 = k, M_s = k 2^(2b-2) (s+1) 2^-sb (s >= 3), and
    |T| <= k (sum_a max|slice a| max|rem_(S-a)| + max|rem_(S-1)|)."""
    M = [float(k)]
    for s in range(3, S + 1):
        M.append(k * 2.0 ** (2 * beta - 2) * (s + 1) * 2.0 ** (-s * beta))
    part = [1.0] + [2.0 ** (beta - 1 - a * beta) for a in range(2, S)]  # a = 1..S-1
    rem = [2.0 ** (-b * beta) / 2 for b in range(0, S)]
    T = sum(part[a - 1] * rem[S - a] for a in range(1, S)) + rem[S - 1]
    return M, k * T * _REL_UP


def _score_row_error(k: int, beta: int, S: int) -> float:
    """R: the a-priori part of the error bound of D = sum_s Delta_s + Delta_T (units of the
    normalised scores) for _difference_dd with S levels.

    |Delta_s| <= 2 M_s, |Delta_T| <= 2 (M_T + tb), tb = gamma_(S k + S) M_T the tail's own bound
    (at most S pieces of inner dimension k). _difference_dd sums Delta_T + Delta_S + ... +
    Delta_6 in float64 (S - 5 roundings, <= gamma sum |terms|), absorbs Delta_5, Delta_4 and the
    result into the double-double Delta_2 + Delta_3 by two_sum (exact), and adds the two_sum
    errors e5, e4 (<= u (2 M_5 + small), u (2 M_4 + 2 M_5 + small)) and e3 (<= u (u |h| +
    2 M_4 + ...)) to the low part in float64: each rounding is at most u times a partial sum of
    these. The final l + low rounds once (u^2 |D| (1 + 2u), the relative part, plus u |low|).
    Delta_T is one float64 subtraction (u |Delta_T|) of two tail entries within tb of exact."""
    M, MT = _level_magnitudes(k, beta, S)
    tb = gamma(S * k + S) * MT
    dT = 2 * (MT + tb) * (1 + U)
    small = dT + 2 * sum(M[4:])  # Delta_T + Delta_6..S
    err = gamma(max(S - 5, 0)) * small + U * dT + 2 * tb
    if S >= 4:
        big = 2 * (M[0] + M[1]) * (1 + U)  # |h| = |fl(Delta_2 + Delta_3)|
        s5 = (2 * M[3] if S >= 5 else 0.0) + small * (1 + gamma(S))
        s4 = 2 * M[2] + s5 * (1 + U)
        low_terms = U * s5 + U * s4 + U * (U * big + s4) * (1 + U)
        err += gamma(3) * low_terms + U * low_terms * (1 + gamma(3))
    else:
        err += U * (small * (1 + U))
    return err * (1 + 2.0**-20)


def _d3_max(k: int, beta: int, S: int) -> float:
    """A-priori bound on |D3| (normalised units), the third component _difference_dd_into leaves:
    the float64 sum of the two_sum errors e5, e4 (<= u |s5|, u |s4|) and e3 (<= u (u |h| + |s4|)),
    in the notation of _score_row_error."""
    M, MT = _level_magnitudes(k, beta, S)
    tb = gamma(S * k + S) * MT
    small = 2 * (MT + tb) * (1 + U) + 2 * sum(M[4:])
    big = 2 * (M[0] + (M[1] if S >= 3 else 0.0)) * (1 + U)
    s5 = (2 * M[3] if S >= 5 else 0.0) + small * (1 + gamma(S))
    s4 = (2 * M[2] if S >= 4 else 0.0) + s5 * (1 + U)
    return U * (s5 + s4 + U * big + s4) * (1 + 4 * U)


def _plain_weight_error(scale_abs, R_qk, d3_max, D):
    """e_w,j <= this row constant for every key of nonzero weight, without softcap and ALiBi.

    e_x <= 8u |x3| + |scale'| R + 2^-1070 D, |x3| <= |scale'| |D3| (1 + u) + 10u^2 |x| (the
    _mul_scale3_into sum), and e_w = e_x (1 + 2^-40) + EXP_REL + (EXP_REL_PER_X + X3_REL) |x|
    with |x| <= 708.4 wherever the weight is nonzero (smaller weights are flushed to 0)."""
    x_max = 708.5
    x3 = scale_abs * d3_max * (1 + U) + 10 * U2 * x_max
    ex = 8 * U * x3 + scale_abs * R_qk + _SUBNORMAL_SCALE * D
    return (ex * _REL_UP + EXP_REL + (EXP_REL_PER_X + _X3_REL) * x_max) * _REL_UP


def _choose_qk_levels(k: int, beta: int, scale_abs_max: float) -> tuple[int, float]:
    """Smallest S in _QK_LEVELS with |scale'| R(S) <= _QK_TARGET (else the largest)."""
    for S in _QK_LEVELS:
        R = _score_row_error(k, beta, S)
        if scale_abs_max * R <= _QK_TARGET or S == _QK_LEVELS[-1]:
            return S, R
    raise AssertionError  # pragma: no cover


def _choose_pv_levels(w_exp, beta, vs: Slices, rem_colsums, v_colsum, S_mag, Lk) -> int:
    """Smallest S in _PV_LEVELS whose a-priori tail bound (as level_products will bound it) is
    <= _PV_TARGET * S_mag everywhere (else the largest).

    Pieces: slice a of w (max 2^e for a = 1, 2^(e - (a-1) beta - 1) for a >= 2) against the
    remainder S - a of V' (column sums), and the remainder of w (<= 2^(e - (S-1) beta - 1)
    (1 + 2^-20)) against V' (plus u at full weight for its dropped low part); all times
    gamma_(Lk + P) (P products of inner dimension Lk, summed)."""
    floor = np.maximum(S_mag, np.finfo(float).tiny)
    scale = np.ldexp(1.0, w_exp.astype(np.int64))  # [R, 1]
    for S in _PV_LEVELS:
        vt = vs.truncated(S - 1)
        total = np.zeros(S_mag.shape[1])
        pieces = 1
        for a in range(1, S):
            b = S - a
            if b < vt.count or not vt.exact:
                pmax = 1.0 if a == 1 else 2.0 ** (-(a - 1) * beta - 1)
                total = total + pmax * rem_colsums[min(b, vt.count)]
                pieces += 1
        g = gamma(Lk + pieces)
        wrem = 2.0 ** (-(S - 1) * beta - 1) * (1 + 2.0**-20)
        bound = scale * (g * total + (g + 2 * U) * wrem * v_colsum)[None, :]
        if np.all(bound <= _PV_TARGET * floor) or S == _PV_LEVELS[-1]:
            return S
    raise AssertionError  # pragma: no cover
