"""Double-double ("dd") arithmetic on numpy arrays: error-free transformations and the basic
operations on unevaluated sums hi + lo of two float64 numbers.

Claim: each function below returns, elementwise and for every array shape numpy broadcasts,
the value stated in its docstring, exactly (error-free transformations) or within the stated
relative error bound, where u = 2**-53 is the unit roundoff of float64 round-to-nearest.

Sources:
  two_sum            Knuth, TAOCP vol. 2 (1969), Thm 4.2.2B; Moller 1965. Exact, any finite a, b.
  fast_two_sum       Dekker, "A floating-point technique for extending the available
                     precision", Numer. Math. 18 (1971). Exact when |a| >= |b| or a == 0.
  split, two_prod    Dekker 1971 (Veltkamp splitting). numpy has no fused multiply-add, so the
                     product's error is recovered by splitting each factor into 26 + 26 bits.
                     Exact when |a|, |b| < 2**995 and the exponent of a*b is >= -969 (no
                     underflow of the error term), zeros included.
  dd_add, dd_add_d,  Joldes, Muller, Popescu, "Tight and rigorous error bounds for basic
  dd_mul_d           building blocks of double-word arithmetic", ACM TOMS 44(2), 2017:
                     Algorithms 6 (AccurateDWPlusDW, relative error <= 3u^2 + 13u^3),
                     4 (DWPlusFP, <= 2u^2/(1-2u)) and 7 (DWTimesFP1, <= 1.5u^2 + 4u^3).
                     The bounds are relative to the exact result of the operation on the
                     (exact) double-word inputs.
  dd_mul             the same paper's Algorithm 10 (DWTimesDW1, products without FMA), with
                     the elementary bound 8u^2 derived in its docstring (the paper proves a
                     slightly smaller constant; 8u^2 is what this module relies on).
  dd_div             two Newton corrections of q1 = fl(xh / yh) (elementary; derivation in its
                     docstring): relative error <= 4u^2.
  *_into             two_sum, fast_two_sum and split written into caller-provided arrays
                     (the same arithmetic, bit for bit): the fast oracle's hot loop allocates
                     no temporaries.
  dd_from_mpf        nearest double-double of an mpmath number, by exact integer arithmetic.

Domain: finite inputs, no overflow, and no underflow of the low parts (results above ~2**-969
in magnitude). The inputs of every dd operation must be normalised (|lo| <= ulp(hi)/2 up to a
factor 2, as every function here returns them); results are normalised.

The bound constants (ADD_DD, ADD_D, MUL_DD, MUL_D, DIV_DD) are used by the oracles built on this
module to derive their error bounds; they are rounded up, never down.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np

U = 2.0**-53  # unit roundoff of float64
U2 = U * U  # 2**-106

# Relative error bounds of the operations, as multiples of nothing: ready to multiply |result|.
# The factor (1 + 2**-40) only rounds each constant up past its own float64 rounding.
ADD_DD = (3 * U2 + 13 * U * U2) * (1 + 2**-40)  # JMP 2017, AccurateDWPlusDW
ADD_D = 2 * U2 / (1 - 2 * U) * (1 + 2**-40)  # JMP 2017, DWPlusFP
MUL_DD = 8 * U2 * (1 + 2**-40)  # dd_mul docstring (elementary; JMP 2017 prove less)
MUL_D = (1.5 * U2 + 4 * U * U2) * (1 + 2**-40)  # JMP 2017, DWTimesFP1
DIV_DD = 4 * U2  # dd_div below

_SPLITTER = 134217729.0  # 2**27 + 1 (Veltkamp)


def two_sum(a, b):
    """(s, e) with s = fl(a + b) and s + e = a + b exactly (Knuth)."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


def fast_two_sum(a, b):
    """(s, e) with s = fl(a + b), s + e = a + b exactly, provided |a| >= |b| or a == 0 (Dekker)."""
    s = a + b
    e = b - (s - a)
    return s, e


def split(a):
    """(hi, lo) with hi + lo = a exactly, hi and lo of at most 26 significant bits (Veltkamp).

    Requires |a| < 2**995 (the scaled copy must not overflow)."""
    c = _SPLITTER * a
    hi = c - (c - a)
    return hi, a - hi


def two_prod(a, b):
    """(p, e) with p = fl(a * b) and p + e = a * b exactly (Dekker 1971, no FMA)."""
    p = a * b
    ah, al = split(a)
    bh, bl = split(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


def two_prod_split(a, b_hi, b_lo):
    """two_prod(a, b) with b already split as (b_hi, b_lo) = split(b); b = b_hi + b_lo."""
    p = a * (b_hi + b_lo)
    ah, al = split(a)
    e = ((ah * b_hi - p) + ah * b_lo + al * b_hi) + al * b_lo
    return p, e


def two_sum_into(a, b, s, e, t):
    """two_sum(a, b) written into s and e, with t as scratch (no allocation).

    s and t must be distinct from a, b and each other; e may be b itself (b is read last)."""
    np.add(a, b, out=s)
    np.subtract(s, a, out=t)  # bb = s - a
    np.subtract(b, t, out=e)  # b - bb
    np.subtract(s, t, out=t)  # s - bb
    np.subtract(a, t, out=t)  # a - (s - bb)
    np.add(t, e, out=e)


def fast_two_sum_into(a, b, s, e):
    """fast_two_sum(a, b) written into s and e (|a| >= |b| or a == 0). s must be distinct from
    a and b; e may be a (a is not read after s - a)."""
    np.add(a, b, out=s)
    np.subtract(s, a, out=e)
    np.subtract(b, e, out=e)


def split_into(a, hi, lo):
    """split(a) written into hi and lo (both distinct from a)."""
    np.multiply(a, _SPLITTER, out=hi)
    np.subtract(hi, a, out=lo)  # c - a
    np.subtract(hi, lo, out=hi)  # c - (c - a)
    np.subtract(a, hi, out=lo)


def dd_add(xh, xl, yh, yl):
    """x + y for double-doubles, relative error <= ADD_DD (AccurateDWPlusDW, JMP 2017 Alg. 6)."""
    sh, sl = two_sum(xh, yh)
    th, tl = two_sum(xl, yl)
    c = sl + th
    vh, vl = fast_two_sum(sh, c)
    w = tl + vl
    return fast_two_sum(vh, w)


def dd_add_d(xh, xl, y):
    """x + y for a double-double x and a double y, relative error <= ADD_D (DWPlusFP, Alg. 4)."""
    sh, sl = two_sum(xh, y)
    v = xl + sl
    return fast_two_sum(sh, v)


def dd_mul(xh, xl, yh, yl):
    """x * y for double-doubles, relative error <= MUL_DD = 8u^2 (DWTimesDW1, JMP 2017 Alg. 10).

    Derivation: ch + cl1 = xh*yh exactly; with |xl| <= u|xh|, |yl| <= u|yh| and one rounding
    (1 + e_k), |e_k| <= u, for each of fl(xh*yl), fl(xl*yh), their sum cl2 and cl3 = fl(cl1 + cl2),
    the result ch + cl3 differs from the exact product by
        e4 (cl1 + cl2) + e3 (xh yl + xl yh) + e1 xh yl + e2 xl yh - xl yl,
    each term at most (3, 2, 1, 1, 1) u^2 |xh yh| (1 + O(u)); |x y| >= |xh yh| (1 - u)^2.
    fast_two_sum is exact here because |cl3| <= 3.01u |ch|.
    """
    ch, cl1 = two_prod(xh, yh)
    cl2 = xh * yl + xl * yh
    return fast_two_sum(ch, cl1 + cl2)


def dd_mul_d(xh, xl, y):
    """x * y for a double-double x and a double y, relative error <= MUL_D (DWTimesFP1, Alg. 7)."""
    ch, cl1 = two_prod(xh, y)
    cl2 = xl * y
    th, tl1 = fast_two_sum(ch, cl2)
    tl2 = tl1 + cl1
    return fast_two_sum(th, tl2)


def dd_div(xh, xl, yh, yl):
    """x / y for double-doubles (y != 0), relative error <= DIV_DD = 4u^2.

    Derivation (elementary): q1 = fl(xh / yh) has |x/y - q1| <= 3.01u |x/y| (two input
    roundings of at most u each and one division rounding). r1 = x - q1*y is evaluated as a
    double-double with error <= MUL_D |q1 y| + ADD_DD |r1| <= 2u^2 |x| (1 + O(u)); q2 =
    fl(r1h / yh) = (r1 / y)(1 + 3.01u) + O(2u^2 |x/y|), so |x/y - q1 - q2| <= 12u^2 |x/y|.
    A second correction q3 from r2 = r1 - q2*y (same argument, one order smaller) brings
    the truncation error of q1 + q2 + q3 to O(u^3); the final two_sum / fast_two_sum
    renormalisation into a double-double rounds once more by at most u^2 |q| (the low part's
    rounding). Total < 4u^2 |x/y| for results in the normal range.
    """
    q1 = xh / yh
    ph, pl = dd_mul_d(yh, yl, q1)
    r1h, r1l = dd_add(xh, xl, -ph, -pl)
    q2 = r1h / yh
    ph, pl = dd_mul_d(yh, yl, q2)
    r2h, r2l = dd_add(r1h, r1l, -ph, -pl)
    q3 = r2h / yh
    sh, sl = two_sum(q1, q2)
    return fast_two_sum(sh, sl + q3)


# --- Conversions (for constants and tests) ------------------------------------------------


def dd_from_mpf(x) -> tuple[float, float]:
    """The double-double nearest to the mpmath number x: hi = round(x), lo = round(x - hi).

    |x - hi - lo| <= u^2 |x| (in the normal range). Uses exact integer arithmetic, so the
    ambient mpmath precision does not matter."""
    if not isinstance(x, mpmath.mpf):
        raise TypeError("dd_from_mpf takes an mpmath.mpf (build it at the precision you need)")
    if not mpmath.isfinite(x):
        return float(x), 0.0
    man, exp = _man_exp(x)
    hi = _round_int_scaled(man, exp)
    rest_man, rest_exp = _sub_float(man, exp, hi)
    lo = _round_int_scaled(rest_man, rest_exp)
    return hi, lo


def _man_exp(x):
    """(signed mantissa, exponent) of a finite mpf: x = m * 2**e exactly."""
    sign, man, exp, _ = x._mpf_
    return (-int(man) if sign else int(man)), int(exp)


def _round_int_scaled(man: int, exp: int) -> float:
    """Correctly rounded float of man * 2**exp (CPython's int -> float conversion rounds half
    to even; the scaling by a power of two is exact in the normal range)."""
    if man == 0:
        return 0.0
    # keep 64 significant bits plus a sticky bit so that float() rounds correctly
    bits = abs(man).bit_length()
    if bits > 64:
        shift = bits - 64
        sticky = 1 if (abs(man) & ((1 << shift) - 1)) else 0
        m = (abs(man) >> shift) | sticky
        m = m if man > 0 else -m
        return math.ldexp(float(m), exp + shift)
    return math.ldexp(float(man), exp)


def _sub_float(man: int, exp: int, f: float) -> tuple[int, int]:
    """man * 2**exp - f exactly, as (mantissa, exponent)."""
    if f == 0.0:
        return man, exp
    fm, fe = f.as_integer_ratio()
    fe = -(fe.bit_length() - 1)  # denominator is a power of two
    e = min(exp, fe)
    return (man << (exp - e)) - (fm << (fe - e)), e


def dd_to_mpf(hi, lo):
    """hi + lo as an exact mpmath number (the sum of two doubles fits in 2200 bits)."""
    with mpmath.workprec(2200):
        return +(mpmath.mpf(float(hi)) + mpmath.mpf(float(lo)))
