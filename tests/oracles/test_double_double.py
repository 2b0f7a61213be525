"""Double-double arithmetic (oracles/arithmetic/double_double.py, oracles/arithmetic/double_double_exp.py) against
exact rational arithmetic (fractions.Fraction) and mpmath at 300 bits.

Every tolerance below is the module's own stated bound (its constant), never a tuned number:
the tests hold the implementation to the claims the tier-2 oracle builds its bound on.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnspec.oracles.arithmetic import double_double as dd
from attnspec.oracles.arithmetic import double_double_exp as de

U2 = dd.U2


def frac(x) -> Fraction:
    return Fraction(float(x))


def mp(x):
    return mpmath.mpf(float(x))


def scaled(max_exp: int):
    """Floats m * 2^e with |m| < 1 (53 random bits) and |e| <= max_exp: hostile magnitudes
    spread over the whole exponent range, zeros included."""
    return st.one_of(
        st.just(0.0),
        st.builds(
            lambda m, e: math.ldexp(m, e),
            st.floats(-1, 1, allow_nan=False, exclude_min=True, exclude_max=True),
            st.integers(-max_exp, max_exp),
        ),
    )


def arrays_of(strategy, size=32):
    return st.lists(strategy, min_size=1, max_size=size).map(lambda xs: np.array(xs, dtype=float))


def dd_numbers(max_exp: int):
    """Normalised double-doubles hi + lo, |hi| in [2^(e-1), 2^e), |e| <= max_exp, lo anywhere in
    [-ulp(hi)/2, ulp(hi)/2] (the domain keeps products and quotients in the normal range)."""

    def build(m, e, t):
        hi = math.ldexp(m, e)
        lo = t * math.ulp(hi) / 2 if hi != 0 else 0.0
        return dd.two_sum(hi, lo)

    return st.builds(
        build,
        st.builds(lambda m, s: m if s else -m, st.floats(0.5, 1, exclude_max=True), st.booleans()),
        st.integers(-max_exp, max_exp),
        st.floats(-1, 1, allow_nan=False),
    )


# --- error-free transformations --------------------------------------------------------------


@settings(max_examples=200)
@given(a=arrays_of(scaled(1020)), b=arrays_of(scaled(1020)))
def test_two_sum_is_exact(a, b):
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]
    s, e = dd.two_sum(a, b)
    assert np.array_equal(s, a + b)
    for i in range(n):
        assert frac(s[i]) + frac(e[i]) == frac(a[i]) + frac(b[i])


@settings(max_examples=200)
@given(a=arrays_of(scaled(1020)), b=arrays_of(scaled(1020)))
def test_fast_two_sum_is_exact_when_ordered(a, b):
    n = min(a.size, b.size)
    big = np.where(np.abs(a[:n]) >= np.abs(b[:n]), a[:n], b[:n])
    small = np.where(np.abs(a[:n]) >= np.abs(b[:n]), b[:n], a[:n])
    s, e = dd.fast_two_sum(big, small)
    for i in range(n):
        assert frac(s[i]) + frac(e[i]) == frac(big[i]) + frac(small[i])


def significant_bits(x: float) -> int:
    if x == 0:
        return 0
    num, den = abs(x).as_integer_ratio()
    while num % 2 == 0:
        num //= 2
    return num.bit_length()


@settings(max_examples=200)
@given(a=arrays_of(scaled(990)))
def test_split_gives_two_26_bit_halves(a):
    hi, lo = dd.split(a)
    for i in range(a.size):
        assert frac(hi[i]) + frac(lo[i]) == frac(a[i])
        assert significant_bits(hi[i]) <= 26 and significant_bits(lo[i]) <= 26


@settings(max_examples=200)
@given(data=st.data())
def test_two_prod_is_exact_without_underflow(data):
    # Dekker's product is exact while the error term stays in the normal range:
    # exponents with e_a + e_b >= -960 and |a|, |b| < 2^990.
    n = data.draw(st.integers(1, 32))
    ea = np.array(data.draw(st.lists(st.integers(-480, 495), min_size=n, max_size=n)))
    eb = np.array(data.draw(st.lists(st.integers(-480, 495), min_size=n, max_size=n)))
    mantissas = st.lists(
        st.builds(lambda m, s: m if s else -m, st.floats(0.5, 1, exclude_max=True), st.booleans()),
        min_size=n, max_size=n,
    )
    ma = np.array(data.draw(mantissas))
    mb = np.array(data.draw(mantissas))
    a, b = np.ldexp(ma, ea), np.ldexp(mb, eb)
    p, e = dd.two_prod(a, b)
    assert np.array_equal(p, a * b)
    for i in range(n):
        assert frac(p[i]) + frac(e[i]) == frac(a[i]) * frac(b[i])
    # the pre-split variant used for per-row constants agrees bit for bit
    bh, bl = dd.split(b)
    p2, e2 = dd.two_prod_split(a, bh, bl)
    assert np.array_equal(p2, p) and np.array_equal(e2, e)


@settings(max_examples=100)
@given(a=arrays_of(scaled(1000)), b=arrays_of(scaled(1000)))
def test_out_variants_match_the_allocating_ones(a, b):
    n = min(a.size, b.size)
    a, b = a[:n].copy(), b[:n].copy()
    s, e, t = np.empty(n), np.empty(n), np.empty(n)
    dd.two_sum_into(a, b, s, e, t)
    s0, e0 = dd.two_sum(a, b)
    assert np.array_equal(s, s0) and np.array_equal(e, e0)
    b2 = b.copy()
    dd.two_sum_into(a, b2, s, b2, t)  # e may alias b
    assert np.array_equal(b2, e0)
    big = np.where(np.abs(a) >= np.abs(b), a, b)
    small = np.where(np.abs(a) >= np.abs(b), b, a)
    dd.fast_two_sum_into(big, small, s, e)
    s0, e0 = dd.fast_two_sum(big, small)
    assert np.array_equal(s, s0) and np.array_equal(e, e0)
    x = np.ldexp(a, -30)  # the splitter must not overflow
    dd.split_into(x, s, e)
    h0, l0 = dd.split(x)
    assert np.array_equal(s, h0) and np.array_equal(e, l0)


# --- double-double operations ----------------------------------------------------------------


def rel_err(got_hi, got_lo, exact: Fraction) -> Fraction:
    return abs(frac(got_hi) + frac(got_lo) - exact) / abs(exact)


@settings(max_examples=300)
@given(x=dd_numbers(500), y=dd_numbers(500), cancel=st.booleans())
def test_dd_add_within_its_bound(x, y, cancel):
    if cancel:  # hostile: y close to -x, the sum keeps only the low parts
        y = dd.two_sum(-x[0], y[1] * 1e-3)
    exact = frac(x[0]) + frac(x[1]) + frac(y[0]) + frac(y[1])
    zh, zl = dd.dd_add(x[0], x[1], y[0], y[1])
    if exact == 0:
        assert zh + zl == 0
    else:
        assert rel_err(zh, zl, exact) <= Fraction(dd.ADD_DD)  # JMP 2017: 3u^2 + 13u^3
    # DWPlusFP: double-double plus a double
    exact = frac(x[0]) + frac(x[1]) + frac(y[0])
    zh, zl = dd.dd_add_d(x[0], x[1], y[0])
    if exact != 0:
        assert rel_err(zh, zl, exact) <= Fraction(dd.ADD_D)  # JMP 2017: 2u^2 / (1 - 2u)


@settings(max_examples=300)
@given(x=dd_numbers(400), y=dd_numbers(400))
def test_dd_mul_and_div_within_their_bounds(x, y):
    xe = frac(x[0]) + frac(x[1])
    ye = frac(y[0]) + frac(y[1])
    if xe == 0 or ye == 0:
        return
    zh, zl = dd.dd_mul(x[0], x[1], y[0], y[1])
    assert rel_err(zh, zl, xe * ye) <= Fraction(dd.MUL_DD)  # 8u^2, dd_mul docstring
    zh, zl = dd.dd_mul_d(x[0], x[1], y[0])
    assert rel_err(zh, zl, xe * frac(y[0])) <= Fraction(dd.MUL_D)  # JMP: 1.5u^2 + 4u^3
    zh, zl = dd.dd_div(x[0], x[1], y[0], y[1])
    assert rel_err(zh, zl, xe / ye) <= Fraction(dd.DIV_DD)  # 4u^2, dd_div docstring


def test_dd_operations_on_adversarial_bit_patterns():
    # operands whose low parts sit exactly on half-ulps and results that straddle powers of 2
    cases = []
    for hi in (1.0, 1.5, 2.0 - 2**-52, 3.0, 1e10, 2.0**-400):  # results stay above 2^-969
        for t in (0.5, -0.5, 0.25, -1.0 + 2**-30):
            cases.append(dd.two_sum(hi, t * math.ulp(hi)))
    for (xh, xl) in cases:
        for (yh, yl) in cases:
            xe, ye = frac(xh) + frac(xl), frac(yh) + frac(yl)
            assert rel_err(*dd.dd_mul(xh, xl, yh, yl), xe * ye) <= Fraction(dd.MUL_DD)
            assert rel_err(*dd.dd_div(xh, xl, yh, yl), xe / ye) <= Fraction(dd.DIV_DD)
            s = xe - ye
            if s != 0:
                assert rel_err(*dd.dd_add(xh, xl, -yh, -yl), s) <= Fraction(dd.ADD_DD)


def test_dd_from_mpf_rounds_to_nearest():
    with mpmath.workprec(400):
        for x in (+mpmath.pi, -mpmath.e, mpmath.sqrt(2) * 2**-600, 1 / mpmath.mpf(3), mpmath.mpf(1)):
            hi, lo = dd.dd_from_mpf(x)
            assert hi == float(x)  # mpmath's float() rounds to nearest
            assert abs(mp(hi) + mp(lo) - x) <= U2 * abs(x)
            assert abs(lo) <= math.ulp(hi) / 2
            assert dd.dd_to_mpf(hi, lo) == mp(hi) + mp(lo)
    with pytest.raises(TypeError):
        dd.dd_from_mpf(0.5)


# --- exp, log, sinh, tanh ---------------------------------------------------------------------


def exp_args():
    """Exponent arguments the oracle meets: anything in [-800, 709], concentrated where the
    table reduction is hostile (halfway between multiples of ln2/2^16), near 0, near the flush
    threshold -708.4, with random low parts."""
    c = math.log(2) / 65536
    return st.one_of(
        st.floats(-800, 709),
        st.floats(-1e-3, 1e-3),
        st.builds(lambda k, t: (k + 0.5) * c + t * 1e-12, st.integers(-70_000_000, 6_000),
                  st.floats(-1, 1)),
        st.floats(-708.6, -708.2),
        st.floats(-2.0**-60, 2.0**-60),
    )


@settings(max_examples=100)
@given(xs=st.lists(st.tuples(exp_args(), st.floats(-1, 1)), min_size=1, max_size=24))
def test_dd_exp_within_its_bound(xs):
    hi = np.array([x for x, _ in xs])
    lo = np.array([t * math.ulp(x) / 2 for x, t in xs])
    hi, lo = dd.two_sum(hi, lo)
    eh, el = de.dd_exp(hi, lo)
    # bound: EXP_REL + EXP_REL_PER_X |x| relative, plus EXP_ABS absolute (module docstring)
    with mpmath.workprec(300):
        for i in range(hi.size):
            x = mp(hi[i]) + mp(lo[i])
            exact = mpmath.exp(x)
            err = abs(mp(eh[i]) + mp(el[i]) - exact)
            bound = exact * (de.EXP_REL + de.EXP_REL_PER_X * abs(hi[i])) + de.EXP_ABS
            assert err <= bound, (hi[i], lo[i], float(err / exact))


def test_dd_exp_special_values_and_shapes():
    eh, el = de.dd_exp(0.0, 0.0)
    assert eh == 1.0 and el == 0.0 and np.shape(eh) == ()
    eh, el = de.dd_exp(np.array([-1000.0, -747.0, -708.5]), np.zeros(3))
    assert np.all(eh == 0) and np.all(el == 0)  # flushed: exp(x) < 2^-1022 <= EXP_ABS
    x = np.linspace(-20, 5, 64).reshape(4, 16)
    ws = de.ExpWorkspace(x.shape)
    oh, ol = np.empty_like(x), np.empty_like(x)
    de.dd_exp_into(x, np.zeros_like(x), oh, ol, ws)
    eh, el = de.dd_exp(x, np.zeros_like(x))
    assert np.array_equal(oh, eh) and np.array_equal(ol, el)


@settings(max_examples=60)
@given(xs=st.lists(st.one_of(st.floats(1e-300, 1e300), st.floats(0.5, 2.0),
                             st.floats(1 - 1e-9, 1 + 1e-9)), min_size=1, max_size=16))
def test_dd_log_within_its_bound(xs):
    hi = np.array(xs)
    lo = hi * 2.0**-60
    hi, lo = dd.two_sum(hi, lo)
    lh, ll = de.dd_log(hi, lo)
    with mpmath.workprec(300):
        for i in range(hi.size):
            exact = mpmath.log(mp(hi[i]) + mp(lo[i]))
            err = abs(mp(lh[i]) + mp(ll[i]) - exact)
            assert err <= de.LOG_ABS + de.LOG_REL_PER_LOG * abs(exact)  # dd_log docstring


@settings(max_examples=60)
@given(xs=st.lists(st.floats(-0.25, 0.25), min_size=1, max_size=16))
def test_dd_sinh_small_within_its_bound(xs):
    x = np.array(xs)
    sh, sl = de.dd_sinh_small(x, np.zeros_like(x))
    with mpmath.workprec(300):
        for i in range(x.size):
            exact = mpmath.sinh(mp(x[i]))
            assert abs(mp(sh[i]) + mp(sl[i]) - exact) <= de.SINH_REL * abs(exact)


@settings(max_examples=60)
@given(xs=st.lists(st.one_of(st.floats(-30, 30), st.floats(-0.3, 0.3), st.floats(-700, 700)),
                   min_size=1, max_size=16))
def test_dd_tanh_within_its_bound(xs):
    x = np.array(xs)
    lo = x * 2.0**-58
    x, lo = dd.two_sum(x, lo)
    th, tl = de.dd_tanh(x, lo)
    with mpmath.workprec(300):
        for i in range(x.size):
            exact = mpmath.tanh(mp(x[i]) + mp(lo[i]))
            assert abs(mp(th[i]) + mp(tl[i]) - exact) <= de.TANH_REL * abs(exact)
