"""exp, log, sinh and tanh of double-double numbers on numpy arrays.

Claim: for a double-double x = xh + xl (normalised, |xl| <= u |xh|, u = 2**-53),
    dd_exp(x)  = exp(x) (1 + t),   |t| <= EXP_REL + EXP_REL_PER_X |x|   (= 6u^2 + 2^-20 u^2 |x|)
plus an absolute error of at most EXP_ABS = 2**-1021, for every finite xh <= 709: results
below 2^-1022 (x < -708.4) are flushed to exactly 0, and the low part of results below
2^-969 is rounded into the subnormal range (<= 2^-1075).

    dd_log(x)  = log(x) + a,   |a| <= LOG_ABS + LOG_REL_PER_LOG |log x|   (x > 0, normal range)
    dd_sinh_small(x) = sinh(x) (1 + t), |t| <= SINH_REL                   (|x| <= 1/4)
    dd_tanh(x) = tanh(x) (1 + t),       |t| <= TANH_REL                   (|x| <= 709)

Method for exp (elementary; Tang, "Table-driven implementation of the exponential function in
IEEE floating-point arithmetic", ACM TOMS 15(2), 1989, carried to double-double):
  x = n C + r,  C = ln2/2^16,  n = rint(xh / C),  |r| <= 0.5001 C < 2^-17.5,
  exp(x) = 2^(n >> 16) * T[n & 0xffff] * (1 + p(r)),
where T[j] = 2^(j/2^16) is tabulated once per process as correctly rounded double-doubles
(python-flint Arb at 200 bits; |T - table| <= u^2 T), and p is the degree-5 Taylor polynomial
of exp(r) - 1 (truncation r^6/720 < 2^-114): r^2 is formed exactly (two_prod) and only the
terms of degree >= 3 (< 2^-55) are evaluated in plain float64.
C is split C1 + C2 + C3 + C4 with C1, C2, C3 of 26 bits, so that n*C1, n*C2, n*C3 are exact for
|n| < 2^27 (|x| < 747). xh - n*C1 is exact: for n != 0 both operands exceed 0.49 C and lie
within a factor 3 of each other, and the difference (< 0.51 C < 2^-17) is a multiple of the finer
operand's ulp below 2^53 such ulps. Everything else in the reduction is two_sum (exact) except
the sums of the O(u^2)-sized leftovers, so r is known to within 2^-24 u^2 (+ |n| |C - sum C_i|
<= 2^-130 |x|): the reduction does not lose the |x|-proportional u^2 |x| that a plain
double-double subtraction x - n C would.

Error bound of dd_exp (relative to exp(x); each line what it adds):
  table T[j]                                                         1.0 u^2
  p: float64 evaluation of the degree >= 3 part (|.| < 2.5e-17; four
     roundings and 1/6 rounded, 5u * 2.5e-17 < 1.0 u^2), the dropped
     r_h*s_l/6 and r_l*r_h^2/2 terms (< 0.2 u^2), three roundings of
     the low-order sum (< 0.6 u^2), truncation (< 0.003 u^2)          1.8 u^2
  T (1 + p): the low-order sum el + (Tl + ml) rounds twice at
     magnitude <= 2u |E| and u |E|                                   3.0 u^2
  reduction (module text above)                                      2^-24 u^2 + 2^-130 |x|
  scaling by 2^k (a float64 built from its bits): exact in the normal
     range; flushed or subnormal results                             EXP_ABS absolute
Total < 5.9 u^2: EXP_REL = 6u^2, EXP_REL_PER_X = 2^-20 u^2 (covers 2^-130 |x|).
The tests hold these bounds against mpmath at 300 bits over hostile arguments.

Domain: finite xh <= 709 (no overflow); any xh < -708.4 gives exactly 0.
"""

from __future__ import annotations

import math
import threading

import flint
import mpmath
import numpy as np

from attnspec.oracles.arithmetic.double_double import (
    _SPLITTER,
    U2,
    _round_int_scaled,
    dd_add,
    dd_add_d,
    dd_div,
    dd_from_mpf,
    dd_mul,
    dd_mul_d,
)

TABLE_BITS = 16
_N = 1 << TABLE_BITS
_MASK = _N - 1

EXP_REL = 6.0 * U2
EXP_REL_PER_X = 2.0**-20 * U2
EXP_ABS = 2.0**-1021  # results below 2^-1022 are flushed to 0; the low part's subnormal rounding
EXP_UNDERFLOW_X = -747.0  # arguments are clamped here: exp(-747) < 2**-1077 rounds to 0


def exp_error_bound(xh):
    """Relative error bound of dd_exp at x (float64 array of the high parts)."""
    return EXP_REL + EXP_REL_PER_X * np.abs(xh)


def _ln2_parts():
    with mpmath.workprec(300):
        c = mpmath.log(2) / _N
        parts = []
        rest = c
        for bits in (26, 26, 26):
            man_exp = mpmath.frexp(rest)  # rest = m * 2**e, 0.5 <= |m| < 1
            m, e = man_exp
            scaled = mpmath.floor(m * 2**bits + mpmath.mpf(0.5))
            part = float(mpmath.ldexp(scaled, int(e) - bits))
            parts.append(part)
            rest = rest - part
        parts.append(float(rest))
        inv = float(_N / mpmath.log(2))
    return inv, tuple(parts)


_INV_C, (_C1, _C2, _C3, _C4) = _ln2_parts()


_LOCK = threading.Lock()  # lazily built constants: built once, by one thread
_TABLE: tuple[np.ndarray, np.ndarray] | None = None


def _table() -> tuple[np.ndarray, np.ndarray]:
    """T[j] = 2^(j/2^16), j = 0..2^16-1, as correctly rounded double-doubles (hi, lo).

    Computed once per process with python-flint at 200 bits by repeated multiplication by
    2^(1/2^16) (the ball radius stays below 2^-180 relative), then rounded exactly. Thread-safe
    (python-flint's precision is process-global: the build holds a lock)."""
    global _TABLE
    if _TABLE is None:
        with _LOCK:
            if _TABLE is None:
                _TABLE = _build_table()
    return _TABLE


def _build_table() -> tuple[np.ndarray, np.ndarray]:
    saved = flint.ctx.prec
    flint.ctx.prec = 200
    try:
        step = (flint.arb(2).log() / _N).exp()
        x = flint.arb(1)
        hi = np.empty(_N)
        lo = np.empty(_N)
        for j in range(_N):
            man, exp = x.mid().man_exp()
            man, exp = int(man), int(exp)
            h = _round_int_scaled(man, exp)
            hm, hd = h.as_integer_ratio()
            he = -(hd.bit_length() - 1)
            e = min(exp, he)
            rest = (man << (exp - e)) - (hm << (he - e))
            hi[j] = h
            lo[j] = _round_int_scaled(rest, e)
            x = x * step
        assert float(x.rad()) < 2.0**-180
    finally:
        flint.ctx.prec = saved
    hi.setflags(write=False)
    lo.setflags(write=False)
    return hi, lo


_SCALE_BIAS = np.int64(1023)
_FLUSH_K = -1023  # 2^k for k <= -1023 is built as +0.0: results below 2^-1022 flush to 0


class ExpWorkspace:
    """Scratch arrays for dd_exp_into on arrays of one shape (reused across calls: the hot loop
    of the fast oracle allocates nothing)."""

    def __init__(self, shape):
        self.shape = tuple(shape)
        self.f = [np.empty(self.shape) for _ in range(10)]
        self.i = [np.empty(self.shape, dtype=np.int64) for _ in range(2)]


def dd_exp(xh, xl):
    """exp(xh + xl) as a double-double (hi, lo); error bound in the module docstring."""
    shape = np.shape(xh)
    xh = np.atleast_1d(np.asarray(xh, dtype=np.float64))
    xl = np.broadcast_to(np.asarray(xl, dtype=np.float64), xh.shape)
    out_h = np.empty(xh.shape)
    out_l = np.empty(xh.shape)
    dd_exp_into(xh, xl, out_h, out_l, ExpWorkspace(xh.shape))
    return out_h.reshape(shape), out_l.reshape(shape)


def dd_exp_into(xh, xl, out_h, out_l, ws: ExpWorkspace, x3=None):
    """dd_exp written into out_h, out_l (distinct from xh, xl) using the scratch arrays of ws.

    The same arithmetic as the module docstring describes, spelled with out= so that no
    temporary is allocated (two_sum, fast_two_sum, Veltkamp split and Dekker's product
    written out; the comments name the values). x3, if given, is a third component of the
    argument (x = xh + xl + x3, |x3| <= ~u^2 |x|), added to the reduced argument's low-order
    sum: it costs one more rounding of at most u |x3| (covered by EXP_REL_PER_X)."""
    th_tab, tl_tab = _table()
    A, B, C, D, E, F, G, H, K, L = ws.f
    I, J = ws.i
    sub, add, mul = np.subtract, np.add, np.multiply
    np.maximum(xh, EXP_UNDERFLOW_X, out=A)  # keeps |n| < 2^27; exp underflows below anyway
    mul(A, _INV_C, out=B)
    np.rint(B, out=B)  # B = n
    mul(B, _C1, out=C)
    sub(A, C, out=C)  # C = xh - n C1 (exact)
    mul(B, -_C2, out=D)  # D = -n C2 (exact)
    # (E, F) = two_sum(C, D)
    add(C, D, out=E); sub(E, C, out=A); sub(D, A, out=F); sub(E, A, out=A)
    sub(C, A, out=A); add(A, F, out=F)
    mul(B, -_C3, out=C)  # C = -n C3 (exact)
    # (D, G) = two_sum(xl, C) = (s1, e1)
    add(xl, C, out=D); sub(D, xl, out=A); sub(C, A, out=G); sub(D, A, out=A)
    sub(xl, A, out=A); add(A, G, out=G)
    # (C, H) = two_sum(E, D) = (rh, t)
    add(E, D, out=C); sub(C, E, out=A); sub(D, A, out=H); sub(C, A, out=A)
    sub(E, A, out=A); add(A, H, out=H)
    # F = rl + (t + (e1 - n C4))
    mul(B, _C4, out=A); sub(G, A, out=A)
    if x3 is not None:
        add(A, x3, out=A)
    add(H, A, out=A); add(F, A, out=F)
    # (D, E) = two_sum(C, F) = (rh, rl), normalised
    add(C, F, out=D); sub(D, C, out=A); sub(F, A, out=E); sub(D, A, out=A)
    sub(C, A, out=A); add(A, E, out=E)
    # (C, H) = two_prod(rh, rh) = (sh, sl); split rh = F + G
    mul(D, D, out=C)
    mul(D, _SPLITTER, out=F); sub(F, D, out=G); sub(F, G, out=F); sub(D, F, out=G)
    mul(F, F, out=H); sub(H, C, out=H); mul(F, G, out=A); add(A, A, out=A); add(H, A, out=H)
    mul(G, G, out=A); add(H, A, out=H)
    # A = cubic = rh sh (1/6 + rh (1/24 + rh/120))
    mul(D, 1.0 / 120.0, out=A); A += 1.0 / 24.0; A *= D; A += 1.0 / 6.0
    mul(D, C, out=F); A *= F
    # F = tail = sl/2 + rh rl + cubic + rl
    mul(H, 0.5, out=F); mul(D, E, out=G); F += G; F += A; F += E
    # (A, H) = fast_two_sum(rh, sh/2); tail += al
    mul(C, 0.5, out=G); add(D, G, out=A); sub(A, D, out=H); sub(G, H, out=H)
    F += H
    # (C, D) = fast_two_sum(ah, tail) = (ph, pl)
    add(A, F, out=C); sub(C, A, out=D); sub(F, D, out=D)
    # table: I = n, J = n mod 2^16; E = Th, F = Tl
    np.copyto(I, B, casting="unsafe")
    np.bitwise_and(I, _MASK, out=J)
    np.take(th_tab, J, out=E)
    np.take(tl_tab, J, out=F)
    # (G, B) = two_prod(Th, ph): Th = A + H, ph = K + L split
    mul(E, C, out=G)
    mul(E, _SPLITTER, out=A); sub(A, E, out=H); sub(A, H, out=A); sub(E, A, out=H)
    mul(C, _SPLITTER, out=K); sub(K, C, out=L); sub(K, L, out=K); sub(C, K, out=L)
    mul(A, K, out=B); sub(B, G, out=B); mul(A, L, out=A); add(B, A, out=B)
    mul(H, K, out=A); add(B, A, out=B); mul(H, L, out=A); add(B, A, out=B)
    # ml += Th pl + Tl ph + Tl
    mul(E, D, out=A); add(B, A, out=B); mul(F, C, out=A); add(B, A, out=B); add(B, F, out=B)
    # (A, C) = fast_two_sum(Th, mh); el += ml; (out_h, out_l) = fast_two_sum(eh, el)
    add(E, G, out=A); sub(A, E, out=C); sub(G, C, out=C)
    add(C, B, out=C)
    add(A, C, out=out_h); sub(out_h, A, out=D); sub(C, D, out=out_l)
    # times 2^k, k = n >> 16, built from its bits; k <= -1023 gives +0.0 (flush)
    np.right_shift(I, TABLE_BITS, out=I)
    np.maximum(I, _FLUSH_K, out=I)
    add(I, _SCALE_BIAS, out=I)
    np.left_shift(I, 52, out=I)
    scale = I.view(np.float64)
    mul(out_h, scale, out=out_h)
    mul(out_l, scale, out=out_l)


# --- log ------------------------------------------------------------------------------------

_LN2 = None


def _ln2_dd():
    global _LN2
    if _LN2 is None:
        with _LOCK:
            if _LN2 is None:
                with mpmath.workprec(300):
                    _LN2 = dd_from_mpf(mpmath.log(2))
    return _LN2


LOG_ABS = 17.0 * U2
LOG_REL_PER_LOG = 5.0 * U2


def dd_log(xh, xl):
    """log(xh + xl) for x > 0 in the normal range, as a double-double.

    x = 2^k m with m in [1/sqrt2, sqrt2); y0 = log(m) in float64 (|y0| <= 0.35), then two
    Newton steps y <- y + m exp(-y) - 1, each on double-doubles. After the first step the
    truncation error is <= y0_err^2 <= 2^-100, after the second below 2^-190; what remains
    is the evaluation error of m exp(-y) - 1: exp at |y| <= 0.35 (<= (6 + 4.1*0.35) u^2), the
    dd product (8u^2) and the subtraction of 1 (3u^2 of a result that is <= 2^-48), so
    <= 16 u^2 absolute; adding k ln2 costs 1.5u^2 |k ln2| (dd_mul_d; ln2 rounded to dd adds
    u^2 |k ln2|) and one dd_add, 3u^2 |log x|; |k ln2| <= |log x| + 0.35.
    Bound: |error| <= LOG_ABS + LOG_REL_PER_LOG |log x| = 17u^2 + 5u^2 |log x|.
    """
    xh = np.asarray(xh, dtype=np.float64)
    xl = np.asarray(xl, dtype=np.float64)
    m, k = np.frexp(xh)  # xh = m 2^k, 0.5 <= m < 1
    adjust = m < math.sqrt(0.5)
    k = np.where(adjust, k - 1, k)
    mh = np.ldexp(xh, -k)
    ml = np.ldexp(xl, -k)
    yh = np.log(mh)
    yl = np.zeros_like(yh)
    for _ in range(2):
        eh, el = dd_exp(-yh, -yl)
        ph, pl = dd_mul(mh, ml, eh, el)
        dh, dl = dd_add_d(ph, pl, -1.0)
        yh, yl = dd_add(yh, yl, dh, dl)
    lh, ll = _ln2_dd()
    ah, al = dd_mul_d(lh, ll, np.asarray(k, dtype=np.float64))
    return dd_add(ah, al, yh, yl)


# --- sinh for small arguments, tanh ---------------------------------------------------------

_SINH_TERMS = 11  # d^(2k+1)/(2k+1)!, k = 0..10; the first omitted term is < 2^-118 |d|
SINH_REL = 24.0 * U2


_SINH_COEFFS = None


def _sinh_coefficients():
    global _SINH_COEFFS
    if _SINH_COEFFS is None:
        with _LOCK:
            if _SINH_COEFFS is None:
                with mpmath.workprec(300):
                    _SINH_COEFFS = [dd_from_mpf(1 / mpmath.factorial(2 * k + 1))
                                    for k in range(_SINH_TERMS)]
    return _SINH_COEFFS


def prepare() -> None:
    """Build the lazily computed constants now (before worker threads use them)."""
    _table()
    _ln2_dd()
    _sinh_coefficients()


def dd_sinh_small(xh, xl):
    """sinh(x) for |x| <= 1/4, relative error <= SINH_REL = 24u^2.

    Taylor series sinh x = x sum_k z^k/(2k+1)!, z = x^2, in dd Horner form. With |z| <= 1/16
    each Horner step q <- c_k + z q carries the errors of one dd_mul (8u^2) and one dd_add
    (3u^2) relative to its result; they are damped by |z q / (c_k + z q)| <= 1/16 at every
    later step, so the inner sum is within (11 + 11/15) u^2 of exact (plus truncation
    < 2^-118), and the final multiplication by x adds 8u^2: < 20u^2, rounded up to 24u^2.
    """
    coeffs = _sinh_coefficients()
    zh, zl = dd_mul(xh, xl, xh, xl)
    qh, ql = coeffs[-1]
    qh = np.full(np.shape(zh), qh)
    ql = np.full(np.shape(zh), ql)
    for ch, cl in reversed(coeffs[:-1]):
        qh, ql = dd_mul(zh, zl, qh, ql)
        qh, ql = dd_add(qh, ql, ch, cl)
    return dd_mul(xh, xl, qh, ql)


TANH_REL = 64.0 * U2


def dd_tanh(xh, xl):
    """tanh(x) for finite x (|x| <= 709), relative error <= TANH_REL = 64u^2.

    |x| < 1/4: sinh(|x|) / cosh(|x|) with cosh = (exp(|x|) + exp(-|x|)) / 2 (no cancellation):
    24u^2 + 2 * 7.1u^2 (two exp) + 3u^2 (sum) + 4u^2 (division) < 46u^2.
    |x| >= 1/4: (1 - E) / (1 + E) with E = exp(-2|x|) <= e^-0.5: the subtraction amplifies the
    error of E (<= (6 + 8.2|x|)u^2, times E |x|-weighted: E (6 + 8.2|x|) <= 6.2) by
    E / (1 - E) <= 1.55, and the dd add/sub/div add 3 + 3 + 4: < 30u^2.
    """
    xh = np.asarray(xh, dtype=np.float64)
    xl = np.asarray(xl, dtype=np.float64)
    sign = np.where(xh < 0, -1.0, 1.0)
    ah, al = sign * xh, sign * xl
    small = ah < 0.25
    # small branch (evaluated on clipped arguments everywhere, selected below)
    sh_, sl_ = np.where(small, ah, 0.0), np.where(small, al, 0.0)
    snh, snl = dd_sinh_small(sh_, sl_)
    eph, epl = dd_exp(sh_, sl_)
    emh, eml = dd_exp(-sh_, -sl_)
    ch, cl = dd_add(eph, epl, emh, eml)
    ch, cl = 0.5 * ch, 0.5 * cl
    tsh, tsl = dd_div(snh, snl, ch, cl)
    # large branch
    Eh, El = dd_exp(-2.0 * ah, -2.0 * al)
    nh, nl = dd_add_d(-Eh, -El, 1.0)
    dh, dl = dd_add_d(Eh, El, 1.0)
    tlh, tll = dd_div(nh, nl, dh, dl)
    th = np.where(small, tsh, tlh)
    tl = np.where(small, tsl, tll)
    return sign * th, sign * tl
