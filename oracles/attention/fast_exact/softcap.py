"""Softcapped exponent arguments of the tier-2 oracle (fast_exact.py, step 3 with softcap c).

What it does: x_ij = c (tanh a - tanh b), a = scale' S_ij / c, b = scale' S_ir / c, and the
reference score c tanh(b), in double-double with a per-element error bound:
- _softcap_x forms a, b and d = a - b from the exact-level sums S_ij, S_ir and D = S_ij - S_ir
  (never a as t (D + S_ir), which would cancel for keys far below the reference) and propagates
  their errors through F = tanh a - tanh b;
- _tanh_difference evaluates F = sinh(d) / (cosh a cosh b) without cancellation, from
  exponentials of non-positive arguments, with its relative error rho.
The arguments are double-doubles up to 2c in size, known to ~c u^2 (fast_exact's module
docstring: with softcap the bound certifies 29-30 digits).

Sources: Dekker, Numer. Math. 18 (1971), and Joldes, Muller, Popescu, ACM TOMS 44(2) (2017)
(double-double arithmetic and its bounds MUL_DD, DIV_DD, ADD_D, ADD_DD, double_double.py);
Tang, ACM TOMS 15(2) (1989) (table-driven exp, and sinh, tanh, double_double_exp.py); the
identity tanh a - tanh b = sinh(a - b) / (cosh a cosh b) is elementary. The derivations are in
the docstrings below.
"""

from __future__ import annotations

import numpy as np

from attnspec.oracles.arithmetic.double_double import (
    ADD_D,
    ADD_DD,
    DIV_DD,
    MUL_D,
    MUL_DD,
    U,
    U2,
    dd_add,
    dd_add_d,
    dd_div,
    dd_mul,
    dd_mul_d,
)
from attnspec.oracles.arithmetic.double_double_exp import (
    EXP_REL,
    EXP_REL_PER_X,
    SINH_REL,
    TANH_REL,
    dd_exp,
    dd_sinh_small,
    dd_tanh,
)
from attnspec.oracles.attention.fast_exact.bounds import _UP


def _softcap_x(c, Sh, Sl, Dh, Dl, Srh, Srl, sc_h, sc_l, d_rel, R_qk, Sr_err):
    """Softcapped exponent arguments x = c (tanh a - tanh b), a = t S_ij, b = t S_ir,
    d = a - b = t D, t = scale' / c, and the reference score c tanh(b).

    S_ij, S_ir and D = S_ij - S_ir are each summed from the exact levels (relative error
    (1 + 2^-40) u^2 plus the a-priori R): a is NOT formed as t (D + S_ir), which would cancel
    when a key's score is far below the reference's. tanh a - tanh b = sinh(d) / (cosh a cosh b)
    = F(a, b, d), evaluated by _tanh_difference to a relative error rho (given a, b, d).
    Perturbing the inputs by da, db, dd changes F by at most |F| (|tanh a| da + |tanh b| db) +
    |dF/dd| dd, with |dF/dd| = cosh d / (cosh a cosh b) = |F| coth|d| <= 2 (first order; the
    factor 1 + 2^-20 covers the second). Input errors: t has relative error DIV_DD (+ u^2 for
    1/sqrt(D)); d = t D, a = t S_ij, b = t S_ir (dd_mul each) are within |t| err + |.| (MUL_DD +
    e_t). x = c F (dd_mul_d, MUL_D). The reference score c tanh(b) (dd_tanh, TANH_REL) moves by
    at most |c| db with b. Returns (xh, xl, e_x, srh, srl, sr_err)."""
    ch = np.full_like(sc_h, c)
    th, tl = dd_div(sc_h, sc_l, ch, np.zeros_like(ch))
    e_t = DIV_DD + (U2 if np.any(sc_l) else 0.0)
    at = np.abs(th)
    dh, dl = dd_mul(Dh, Dl, th, tl)
    d_err = (at * (d_rel * np.abs(Dh) + R_qk) + np.abs(dh) * (MUL_DD + e_t)) * (1 + 4 * U)
    ah, al = dd_mul(Sh, Sl, th, tl)
    a_err = (at * (d_rel * np.abs(Sh) + R_qk) + np.abs(ah) * (MUL_DD + e_t)) * (1 + 4 * U)
    bh, bl = dd_mul(Srh, Srl, th, tl)
    b_err = (at * Sr_err + np.abs(bh) * (MUL_DD + e_t)) * (1 + 4 * U)
    vh, vl, rho, coth = _tanh_difference(ah, al, bh, bl, dh, dl)
    xh, xl = dd_mul_d(vh, vl, np.broadcast_to(c, vh.shape))
    absF = np.abs(vh) * (1 + 4 * U)
    tanh_a = np.minimum(np.abs(np.tanh(ah)) * (1 + 4 * U), 1.0)
    tanh_b = np.minimum(np.abs(np.tanh(bh)) * (1 + 4 * U), 1.0)
    dF = absF * (rho + tanh_a * a_err + tanh_b * b_err) + np.minimum(absF * coth, 2.0) * d_err
    ex = (abs(c) * dF * (1 + 2.0**-20) + MUL_D * np.abs(xh)) * (1 + 4 * U)
    tbh, tbl = dd_tanh(bh, bl)
    srh, srl = dd_mul_d(tbh, tbl, np.broadcast_to(c, tbh.shape))
    sr_err = (np.abs(srh) * (TANH_REL + MUL_D) * (1 + 4 * U) + abs(c) * b_err) * _UP
    return xh, xl, ex, srh, srl, sr_err


def _tanh_difference(ah, al, bh, bl, dh, dl):
    """F = tanh a - tanh b = sinh(d) / (cosh a cosh b), d = a - b given separately, without
    cancellation. Returns (F hi, lo, rho, coth_bound): rho bounds the relative error of F given
    (a, b, d); coth_bound >= coth|d| (for the propagation of d's error).

    With cosh z = e^|z| (1 + E_z) / 2, E_z = exp(-2|z|), and |d| - |a| - |b| = -2m (m = min(|a|, |b|)
    when a and b have the same sign, else 0):
        |d| >= 1/4:  F = 2 sign(d) e^(-2m) (1 - E_d) / ((1 + E_a)(1 + E_b))
        |d| <  1/4:  F = 4 sign(d) e^(-(|a| + |b|)) sinh|d| / ((1 + E_a)(1 + E_b))
    rho (relative): exp each 6u^2 + 2^-20 u^2 |arg|; 1 + E (ADD_D each), the denominator product
    (MUL_DD); 1 - E_d (ADD_D, and E_d's error amplified by E_d/(1 - E_d) <= 1.55); e^(-2m) (1 - E_d)
    (MUL_DD); sinh (SINH_REL), |a| + |b| (ADD_DD of it, absolute in the exponent), the product
    (MUL_DD); the division (DIV_DD)."""
    sa = np.where(ah < 0, -1.0, 1.0)
    sb = np.where(bh < 0, -1.0, 1.0)
    sd = np.where(dh < 0, -1.0, 1.0)
    aah, aal = sa * ah, sa * al
    abh, abl = sb * bh, sb * bl
    adh, adl = sd * dh, sd * dl
    same = sa == sb
    a_smaller = (aah < abh) | ((aah == abh) & (aal <= abl))
    mh = np.where(same, np.where(a_smaller, aah, abh), 0.0)
    ml = np.where(same, np.where(a_smaller, aal, abl), 0.0)
    Eah, Eal = dd_exp(-2 * aah, -2 * aal)
    Ebh, Ebl = dd_exp(-2 * abh, -2 * abl)
    ph, pl = dd_add_d(Eah, Eal, 1.0)
    qh, ql = dd_add_d(Ebh, Ebl, 1.0)
    den_h, den_l = dd_mul(ph, pl, qh, ql)
    small = adh < 0.25
    Edh, Edl = dd_exp(-2 * adh, -2 * adl)
    oh, ol = dd_add_d(-Edh, -Edl, 1.0)
    emh, eml = dd_exp(-2 * mh, -2 * ml)
    big_h, big_l = dd_mul(emh, eml, oh, ol)
    sinh_h, sinh_l = dd_sinh_small(np.where(small, adh, 0.0), np.where(small, adl, 0.0))
    sum_h, sum_l = dd_add(aah, aal, abh, abl)
    ez_h, ez_l = dd_exp(-sum_h, -sum_l)
    sml_h, sml_l = dd_mul(ez_h, ez_l, sinh_h, sinh_l)
    num_h = np.where(small, 4 * sml_h, 2 * big_h)
    num_l = np.where(small, 4 * sml_l, 2 * big_l)
    vh, vl = dd_div(num_h, num_l, den_h, den_l)

    def exp_rel(arg):
        return EXP_REL + EXP_REL_PER_X * arg

    rel_den = (exp_rel(2 * aah) + ADD_D) + (exp_rel(2 * abh) + ADD_D) + MUL_DD
    rel_big = exp_rel(2 * mh) + (ADD_D + 1.55 * exp_rel(2 * adh)) + MUL_DD
    rel_small = SINH_REL + exp_rel(sum_h) + ADD_DD * sum_h + MUL_DD
    rho = (np.where(small, rel_small, rel_big) + rel_den + DIV_DD) * (1 + 2.0**-20)
    with np.errstate(divide="ignore"):
        coth = np.where(small, 1.0 / np.maximum(adh, np.finfo(float).tiny) + 0.1, 4.1)
    return sd * vh, sd * vl, rho, coth
