"""In-place double-double kernels on [n, Lk] blocks for the tier-2 gradients (gradients.py).

Claim: each function below computes, into caller-provided arrays and without allocating, the
same arithmetic (bit for bit) as the double_double.py / scores.py function it names, so that
function's error bound applies; :func:`dd_rowsum_into` sums the entries of each row pairwise
and states its own bound. Operands named "row" are [n, 1] and broadcast along the row.

  levels_dd_into   scores._difference_dd's order on levels and tail (no differences):
                   error (1 + 2^-40) u^2 |result| + bounds._score_row_error (see gradients.py)
  mul_row_into     scores._mul_scale (x times a per-row double-double, DWTimesFP1 and the low
                   part's product): relative MUL_D, + 2u^2 (1 + 2^-40) when the low part != 0
  dd_add_into      double_double.dd_add (AccurateDWPlusDW, JMP 2017 Alg. 6): relative ADD_DD
  dd_add_d_into    double_double.dd_add_d (DWPlusFP, JMP 2017 Alg. 4): relative ADD_D
  dd_mul_into      double_double.dd_mul (DWTimesDW1): relative MUL_DD
  dd_rowsum_into   pairwise dd_add over each row: |result - sum_j x_j| <=
                   ((1 + ADD_DD)^d - 1) sum_j |x_j|, d = ceil(log2 L) the tree's depth (each
                   node's value is the exact sum of its two computed children times (1 + delta),
                   |delta| <= ADD_DD; by induction over the depth)

Outputs may be the arrays of the first operand (x), which every kernel reads before writing
(stated per kernel); scratch arrays must be distinct from everything else.

Sources: Knuth (two_sum), Dekker, Numer. Math. 18 (1971) (split, two_prod), Joldes, Muller,
Popescu, ACM TOMS 44(2) (2017) (the double-word algorithms and their bounds), through
double_double.py.
"""

from __future__ import annotations

import numpy as np

from attnspec.oracles.arithmetic.double_double import (
    fast_two_sum_into,
    split_into,
    two_sum_into,
)
from attnspec.oracles.attention.fast_exact.scores import _two_prod_error_into


def levels_dd_into(levels, tail, out_h, out_l, f):
    """sum(levels) + tail as a double-double (levels[0] = level 2, decreasing), in the order of
    scores._difference_dd: the float64 sum of the tail and levels S..6, two_sums of levels 5 and 4
    into it, the exact two_sum of levels 2 and 3, the low parts added in float64, one final
    two_sum. f: six scratch arrays."""
    X, Y, SM, LOW, T1, T2 = f[:6]
    np.copyto(SM, tail)
    for L in levels[:3:-1]:  # levels S .. 6
        SM += L
    if len(levels) == 1:
        two_sum_into(levels[0], SM, out_h, out_l, T1)
        return
    two_sum_into(levels[0], levels[1], out_h, T2, T1)  # (h, l) = (out_h, T2)
    if len(levels) >= 3:
        first = True
        for L in levels[3:1:-1]:  # level 5 (if any), then level 4
            two_sum_into(L, SM, Y, SM, T1)  # s = Y, e = SM
            if first:
                np.copyto(LOW, SM)
                first = False
            else:
                LOW += SM
            SM, Y = Y, SM
        two_sum_into(T2, SM, X, Y, T1)  # (l, e3) = (X, Y)
        LOW += Y
    else:
        two_sum_into(T2, SM, X, LOW, T1)  # (l, low)
    two_sum_into(out_h, X, Y, T2, T1)  # (h, l) = (Y, T2)
    T2 += LOW
    two_sum_into(Y, T2, out_h, out_l, T1)


def mul_row_into(xh, xl, yh, yl, yh_hi, yh_lo, out_h, out_l, f):
    """(xh + xl)(yh + yl) for a per-row double-double y ([n, 1], |yl| <= u |yh|; yh_hi + yh_lo =
    split(yh)): scores._mul_scale's arithmetic. out may be x. f: six scratch arrays."""
    A, B, P, Q, C, H = f[:6]
    split_into(xh, A, B)
    np.multiply(xh, yh, out=P)  # ch
    _two_prod_error_into(P, A, B, yh_hi, yh_lo, Q, H)  # cl1 (exact)
    np.multiply(xl, yh, out=C)  # cl2
    low = bool(np.any(yl))
    if low:
        np.multiply(xh, yl, out=H)
    fast_two_sum_into(P, C, A, B)  # (th, tl1)
    B += Q  # tl2
    if low:
        B += H
    fast_two_sum_into(A, B, out_h, out_l)


def dd_add_into(xh, xl, yh, yl, out_h, out_l, f):
    """x + y (y may be a per-row double-double): double_double.dd_add's arithmetic. out may
    be x. f: five scratch arrays."""
    SH, SL, TH, TL, T = f[:5]
    two_sum_into(xh, yh, SH, SL, T)
    two_sum_into(xl, yl, TH, TL, T)
    SL += TH  # c = sl + th
    fast_two_sum_into(SH, SL, out_h, TH)  # (vh, vl) = (out_h, TH)
    TL += TH  # w = tl + vl
    fast_two_sum_into(out_h, TL, SH, out_l)
    np.copyto(out_h, SH)


def dd_add_d_into(xh, xl, y, out_h, out_l, f):
    """x + y for a float64 y (may be per row): double_double.dd_add_d's arithmetic. out may be
    x. f: three scratch arrays."""
    SH, SL, T = f[:3]
    two_sum_into(xh, y, SH, SL, T)
    SL += xl  # v = xl + sl
    fast_two_sum_into(SH, SL, out_h, out_l)


def dd_mul_into(xh, xl, yh, yl, out_h, out_l, f):
    """x y for double-doubles: double_double.dd_mul's arithmetic. out may be x or y.
    f: six scratch arrays."""
    A, B, C, D, P, Q = f[:6]
    split_into(xh, A, B)
    split_into(yh, C, D)
    np.multiply(xh, yh, out=P)  # ch
    np.multiply(A, C, out=Q)
    Q -= P
    np.multiply(A, D, out=A)
    Q += A
    np.multiply(B, C, out=C)
    Q += C
    np.multiply(B, D, out=B)
    Q += B  # cl1 = the exact error of ch (two_prod's order)
    np.multiply(xh, yl, out=A)
    np.multiply(xl, yh, out=B)
    A += B  # cl2
    Q += A
    fast_two_sum_into(P, Q, out_h, out_l)


def dd_rowsum_into(xh, xl, wh, wl, f) -> int:
    """Pairwise row sums of the double-double x [n, L]: the sum of row i is left in wh[i, 0] +
    wl[i, 0] (wh, wl: [n, L] work arrays, may be x itself, which is then overwritten; f: five
    scratch arrays of at least [n, L // 2]). Returns the depth d = ceil(log2 L) of the tree
    (module docstring for the bound)."""
    L = xh.shape[1]
    if wh is not xh:
        np.copyto(wh, xh)
        np.copyto(wl, xl)
    depth = 0
    while L > 1:
        half = L // 2
        a, b = slice(0, half), slice(half, 2 * half)
        fs = [x[:, :half] for x in f[:5]]
        dd_add_into(wh[:, a], wl[:, a], wh[:, b], wl[:, b], wh[:, a], wl[:, a], fs)
        if L % 2:
            wh[:, half] = wh[:, L - 1]
            wl[:, half] = wl[:, L - 1]
            L = half + 1
        else:
            L = half
        depth += 1
    return depth
