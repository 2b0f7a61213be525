"""Exact score differences and exponent arguments of the tier-2 oracle (fast_exact.py, steps 2-3).

What it does: from the exact levels L_s of Q K^T and its float64 tail T (exact_products.py),
- _difference_dd, _difference_dd_into: D_ij = S_ij - S_ir = sum_s Delta_s + Delta_T, with
  Delta_s = L_s[i, j] - L_s[i, r_i] exact (one global grid for k, one bit of headroom), summed
  by two_sum into a normalised double-double or, with out_3, a triple Dh + Dl + D3 whose only
  error is the a-priori row term R (fast_exact_bounds._score_row_error, which states the
  evaluation order; D3 is bounded by fast_exact_bounds._d3_max);
- _mul_scale3_into: x = scale' D as a triple from exact two_prods (scale' itself a triple for
  1/sqrt(D)): error <= 8u |x3| + 160 u^3 |x|, no u^2 |x| term (which would dominate for keys
  far below the maximum);
- _mul_scale: a double-double times the per-row scale' (the reference score s_ir).
Everything works in place on caller-provided scratch arrays where the hot loop calls it.

Sources: Dekker, Numer. Math. 18 (1971) (split, two_prod); Knuth, TAOCP vol. 2 (two_sum);
Joldes, Muller, Popescu, ACM TOMS 44(2) (2017), Alg. 7 DWTimesFP1 (_mul_scale); the error
bounds are derived in the docstrings below (double_double.py for the primitives).
"""

from __future__ import annotations

import numpy as np

from attnspec.oracles.arithmetic.double_double import (
    fast_two_sum,
    fast_two_sum_into,
    split_into,
    two_prod_split,
    two_sum,
    two_sum_into,
)


def _difference_dd(deltas: list[np.ndarray], dT: np.ndarray):
    """sum(deltas) + dT as a normalised double-double (deltas exact, of decreasing magnitude
    bounds: Delta_2, Delta_3, ...; dT inexact and smallest). Error: (1 + 2^-40) u^2 |result| +
    _score_row_error (which states the evaluation order)."""
    if len(deltas) == 1:
        return two_sum(deltas[0], dT)
    small = dT
    for extra in deltas[:3:-1]:  # Delta_S .. Delta_6, smallest first
        small = small + extra
    h, l = two_sum(deltas[0], deltas[1])
    if len(deltas) >= 3:
        s = small
        low = None
        for big in deltas[3:1:-1]:  # Delta_5 (if any), then Delta_4: exact two_sums
            s, e = two_sum(big, s)
            low = e if low is None else low + e
        l, e3 = two_sum(l, s)
        low += e3
    else:
        l, low = two_sum(l, small)
    h, l = two_sum(h, l)
    l += low
    return two_sum(h, l)


def _difference_dd_into(levels, cols, tail, tcol, out_h, out_l, f, out_3=None):
    """_difference_dd of Delta_s = levels[s] - cols[s] and Delta_T = tail - tcol, the same
    arithmetic in the same order, written into out_h, out_l with the scratch arrays f[0..5].

    With out_3 given, the last step is left out: out_h + out_l is the exact two_sum of the
    leading terms and out_3 the float64 sum of the small ones (D = out_h + out_l + out_3, error
    only the a-priori R of _score_row_error, no u^2 |D| part)."""
    X, Y, SM, LOW, T1, T2 = f[:6]
    sub = np.subtract
    sub(tail, tcol, out=SM)
    for L, c in zip(levels[:3:-1], cols[:3:-1]):  # Delta_S .. Delta_6
        sub(L, c, out=X)
        SM += X
    sub(levels[0], cols[0], out=X)
    if len(levels) == 1:
        two_sum_into(X, SM, out_h, out_l, T1)
        return
    sub(levels[1], cols[1], out=Y)
    two_sum_into(X, Y, out_h, T2, T1)  # (h, l) = (out_h, T2)
    if len(levels) >= 3:
        first = True
        for L, c in zip(levels[3:1:-1], cols[3:1:-1]):  # Delta_5 (if any), Delta_4
            sub(L, c, out=X)
            two_sum_into(X, SM, Y, SM, T1)  # s = Y, e = SM
            if first:
                np.copyto(LOW, SM)
                first = False
            else:
                LOW += SM
            SM, Y = Y, SM  # s becomes the running small sum
        two_sum_into(T2, SM, X, Y, T1)  # (l, e3) = (X, Y)
        LOW += Y
    else:
        two_sum_into(T2, SM, X, LOW, T1)  # (l, low)
    two_sum_into(out_h, X, Y, T2, T1)  # (h, l) = (Y, T2)
    if out_3 is not None:
        np.copyto(out_h, Y)
        np.copyto(out_l, T2)
        np.copyto(out_3, LOW)
        return
    T2 += LOW
    two_sum_into(Y, T2, out_h, out_l, T1)


def _two_prod_error_into(p, hi, lo, sh, sl, err, tmp):
    """err = (hi + lo)(sh + sl) - p in place, exact when p = fl(x s) for x = hi + lo and
    s = sh + sl Dekker splits (Dekker 1971; double_double.two_prod_split, without allocating).
    ``tmp`` is scratch and may be ``hi`` itself, which is then clobbered."""
    mul, add = np.multiply, np.add
    mul(hi, sh, out=err); np.subtract(err, p, out=err)
    mul(hi, sl, out=tmp); add(err, tmp, out=err)
    mul(lo, sh, out=tmp); add(err, tmp, out=err)
    mul(lo, sl, out=tmp); add(err, tmp, out=err)


def _mul_scale3_into(Dh, Dl, D3, sc, sc_split, out_h, out_l, out_3, f):
    """x = (Dh + Dl + D3) (s1 + s2 + s3) as a triple (out_h + out_l + out_3) for the per-row
    scale' given as a triple (s2 = s3 = 0 for an exact scale), with s1 and s2 split in advance.

    Dh s1 (two_prod), Dl s1 and Dh s2 (two_prod each, |.| <= u |x|) are exact; (a, b) =
    two_sum(err(Dh s1), Dl s1), (a, c) = two_sum(a, Dh s2); (out_h, out_l) = fast_two_sum(Dh s1,
    a) exactly; out_3 = the float64 sum of b, c, the two_prod errors of Dl s1 and Dh s2, D3 s1,
    Dl s2 and Dh s3 (seven terms <= 2u^2 |x| each after the first). Error: six roundings of
    partial sums <= (|D3 s1| + 9u^2 |x|) each, plus the products' own roundings and the dropped
    Dl s3, D3 s2, D3 s3 and s1 + s2 + s3 - scale' (each < u^3 |x|): <= 8u |x3| + 140 u^3 |x|,
    which the caller takes as 8u |x3| + X3_REL |x| (X3_REL = 160 u^3)."""
    s1, s2, s3 = sc
    (s1h, s1l), (s2h, s2l) = sc_split
    P, Q, A, B, C, H = f[:6]
    mul, add = np.multiply, np.add
    # split Dh into A + B (kept for the second product)
    split_into(Dh, A, B)
    # (P, Q) = two_prod(Dh, s1)
    mul(Dh, s1, out=P)
    _two_prod_error_into(P, A, B, s1h, s1l, Q, H)
    # out_3 = D3 s1 (+ Dl s2 + Dh s3)
    mul(D3, s1, out=out_3)
    # (C, H) = two_prod(Dl, s1): C goes to the two_sum, H to out_3
    mul(Dl, s1, out=C)
    split_into(Dl, out_l, out_h)  # scratch use of the outputs
    _two_prod_error_into(C, out_l, out_h, s1h, s1l, H, out_l)
    add(out_3, H, out=out_3)
    # (Q, H) = two_sum(Q, C): a = Q, b -> out_3
    two_sum_into(Q, C, out_h, H, out_l)
    np.copyto(Q, out_h)
    add(out_3, H, out=out_3)
    if np.any(s2):
        mul(Dl, s2, out=H); add(out_3, H, out=out_3)
        mul(Dh, s3, out=H); add(out_3, H, out=out_3)
        # (C, H) = two_prod(Dh, s2) with Dh = A + B
        mul(Dh, s2, out=C)
        _two_prod_error_into(C, A, B, s2h, s2l, H, A)
        add(out_3, H, out=out_3)
        two_sum_into(Q, C, out_h, H, out_l)
        np.copyto(Q, out_h)
        add(out_3, H, out=out_3)
    fast_two_sum_into(P, Q, out_h, out_l)


def _mul_scale(Dh, Dl, sc_h, sc_l, sc_hh, sc_hl):
    """(Dh + Dl) (sc_h + sc_l) for a normalised double-double D and per-row scale'.

    DWTimesFP1 (JMP 2017 Alg. 7, 1.5u^2 + 4u^3) with sc_h, whose split is given, then
    sc_l Dh added to the low part before the last fast_two_sum: |sc_l| <= u |sc_h|, so the
    product and the addition round by at most u^2 |x| each (the dropped sc_l Dl is < u^3 |x|).
    Relative error <= 1.5u^2 + 2u^2 + O(u^3) <= MUL_D + 2u^2 (1 + 2^-40)."""
    ch, cl1 = two_prod_split(Dh, sc_hh, sc_hl)  # ch = fl(Dh sc_h): sc_hh + sc_hl = sc_h exactly
    cl2 = Dl * sc_h
    th, tl1 = fast_two_sum(ch, cl2)
    tl2 = tl1 + cl1
    if np.any(sc_l):
        tl2 += sc_l * Dh
    return fast_two_sum(th, tl2)
