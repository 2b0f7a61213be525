"""Ozaki splitting and exact level products (oracles/arithmetic/exact_products.py) against exact
arithmetic: python-flint Arb matrices at a precision where every operation is exact (the
radius stays 0), and fractions.Fraction for single entries.

Tolerances are the module's stated ones: slices and levels are EXACT (checked with ==), the
tail error is within the returned bound.
"""

from __future__ import annotations

import math
from fractions import Fraction

import flint
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnspec.oracles.arithmetic.double_double import U, two_sum
from attnspec.oracles.arithmetic.exact_products import (
    gamma,
    level_products,
    scale_exponent,
    slice_bits,
    split_slices,
)

EXACT_BITS = 4000  # enough for every product below to be exact (checked: radius == 0)


def exact_mat(x: np.ndarray) -> flint.arb_mat:
    return flint.arb_mat(x.tolist())


def exact_entries(m: flint.arb_mat):
    return [m[i, j] for i in range(m.nrows()) for j in range(m.ncols())]


def assert_exact(m: flint.arb_mat):
    assert all(e.rad() == 0 for e in exact_entries(m))


def matrices(draw, rows, cols, regime):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((rows, cols))
    if regime == "wide":  # exponents spread over 2^-60 .. 2^60 within a row
        x = x * np.exp2(rng.integers(-60, 61, size=x.shape))
    elif regime == "float32":
        x = x.astype(np.float32).astype(np.float64)
    elif regime == "sparse":
        x[rng.random(x.shape) < 0.6] = 0.0
        x[0] = 0.0  # an all-zero row
    elif regime == "ties":
        x = np.round(x * 8) / 8
    return x


@st.composite
def product_cases(draw):
    m = draw(st.integers(1, 9))
    k = draw(st.sampled_from([1, 3, 17, 64, 300]))
    n = draw(st.integers(1, 7))
    regime = draw(st.sampled_from(["normal", "wide", "float32", "sparse", "ties"]))
    A = matrices(draw, m, k, regime)
    B = matrices(draw, k, n, draw(st.sampled_from(["normal", "wide", "float32"])))
    S = draw(st.integers(2, 7))
    by = draw(st.sampled_from(["level", "slice"]))
    a_axis = draw(st.sampled_from([1, None]))
    b_axis = draw(st.sampled_from([0, None]))
    b_slices = draw(st.integers(S - 1, 8))  # B may have more slices than the levels use
    full = frozenset(draw(st.sets(st.integers(1, S - 1)))) if by == "slice" else frozenset()
    include_remainder = draw(st.booleans())
    return A, B, S, by, a_axis, b_axis, b_slices, full, include_remainder


def test_slice_bits_matches_its_stated_inequalities():
    for k in (1, 2, 7, 128, 4096, 10**6):
        for S in range(2, 9):
            for headroom in (False, True):
                beta = slice_bits(k, S, headroom)
                top = 2.0 ** (52 if headroom else 53)
                assert k * 2.0 ** (2 * beta) <= top
                assert k * 2.0 ** (2 * beta - 2) * (S + 1) <= top
                # and beta + 1 would break one of them
                b1 = beta + 1
                assert k * 2.0 ** (2 * b1) > top or k * 2.0 ** (2 * b1 - 2) * (S + 1) > top
    assert slice_bits(128, 7, True) == 22 and slice_bits(4096, 7) == 20


@settings(max_examples=100)
@given(data=st.data())
def test_slices_sum_exactly_to_the_input_on_their_grids(data):
    rows, cols = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 40))
    regime = data.draw(st.sampled_from(["normal", "wide", "float32", "sparse", "ties"]))
    x = matrices(data.draw, rows, cols, regime)
    axis = data.draw(st.sampled_from([0, 1, None]))
    beta = data.draw(st.integers(10, 26))
    lo = None
    if data.draw(st.booleans()):  # a double-double input: hi + lo with |lo| <= ulp(hi)/2
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
        lo = np.array([rng.uniform(-0.5, 0.5) * math.ulp(v) for v in x.ravel()]).reshape(x.shape)
        x, lo = two_sum(x, lo)
    n_slices = data.draw(st.integers(1, 8))
    s = split_slices(x, lo, axis=axis, beta=beta, max_slices=n_slices)
    e = scale_exponent(x, axis)
    for idx in np.ndindex(x.shape):
        total = sum((Fraction(p[idx]) for p in s.parts), Fraction(0))
        total += Fraction(s.rems[s.count][idx])
        if s.rem_lo is not None:
            total += Fraction(s.rem_lo[idx])
        want = Fraction(x[idx]) + (Fraction(lo[idx]) if lo is not None else 0)
        assert total == want  # error-free: slices + remainder reproduce the input exactly
        ee = int(np.broadcast_to(e, x.shape)[idx])
        for a, p in enumerate(s.parts, start=1):
            grid = Fraction(2) ** (ee - a * beta)
            units = Fraction(p[idx]) / grid
            assert units.denominator == 1  # on the slice's grid
            assert abs(units) <= 2 ** (beta if a == 1 else beta - 1)  # the stated bound
            assert abs(p[idx]) <= float(np.broadcast_to(s.part_max(a), x.shape)[idx])
        rem = abs(Fraction(s.rems[s.count][idx]))
        assert rem <= Fraction(float(np.broadcast_to(s.remainder_max(), x.shape)[idx]))
    if s.exact:
        assert not np.any(s.rems[s.count])


@settings(max_examples=150)
@given(case=product_cases())
def test_levels_are_exact_and_the_tail_is_within_its_bound(case):
    A, B, S, by, a_axis, b_axis, b_slices, full, include_remainder = case
    k = A.shape[1]
    beta = slice_bits(k, S)
    As = split_slices(A, axis=a_axis, beta=beta, max_slices=S - 1)
    Bs = split_slices(B, axis=b_axis, beta=beta, max_slices=b_slices)
    lp = level_products(As, Bs, S, by=by, full=full, include_remainder=include_remainder)
    saved = flint.ctx.prec
    flint.ctx.prec = EXACT_BITS
    try:
        for s in range(2, S + 1):
            want = None
            for a in range(1, s):
                b = s - a
                if a <= As.count and b <= Bs.count:
                    t = exact_mat(As.parts[a - 1]) * exact_mat(Bs.parts[b - 1])
                    want = t if want is None else want + t
            got = lp.levels[s - 2]
            if want is None:
                assert not np.any(got)
                continue
            assert_exact(want)
            diff = want - exact_mat(got)
            assert all(e == 0 for e in exact_entries(diff))  # bit-exact level sum
        # the exact products beyond the levels, for the "full" slices, in order
        extra = [(a, b) for a in sorted(full) if a <= As.count
                 for b in range(1, Bs.count + 1) if a + b > S]
        assert len(extra) == len(lp.extra)
        for (a, b), got in zip(extra, lp.extra):
            want = exact_mat(As.parts[a - 1]) * exact_mat(Bs.parts[b - 1])
            assert all(e == 0 for e in exact_entries(want - exact_mat(got)))
        exact = exact_mat(A) * exact_mat(B)
        if not include_remainder:  # the caller's part: the remainder of A times B, exactly
            exact -= exact_mat(As.rems[As.count]) * exact_mat(B)
        approx = exact_mat(lp.tail)
        for L in lp.levels + lp.extra:
            approx += exact_mat(L)
        err = exact - approx
        assert_exact(err)
        bound = lp.tail_bound()
        rows_bound = lp.tail_bound_rows()
        for i in range(A.shape[0]):
            for j in range(B.shape[1]):
                e = abs(float(err[i, j]))
                assert e <= bound[i, j] and bound[i, j] <= rows_bound[i, 0] * (1 + 2 * U)
        if As.exact and Bs.exact and As.count + Bs.count <= S:  # every pair is in a level
            assert not np.any(lp.tail) and not np.any(bound)
    finally:
        flint.ctx.prec = saved


def test_both_product_orders_agree_exactly():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((5, 200)) * np.exp2(rng.integers(-8, 8, (5, 200)))
    B = rng.standard_normal((200, 6))
    beta = slice_bits(200, 5)
    As = split_slices(A, axis=1, beta=beta, max_slices=4)
    Bs = split_slices(B, axis=0, beta=beta, max_slices=4)
    by_level = level_products(As, Bs, 5, by="level")
    by_slice = level_products(As, Bs, 5, by="slice")
    for a, b in zip(by_level.levels, by_slice.levels):
        assert np.array_equal(a, b)  # exact values: the order of summation cannot matter


def test_double_double_left_factor():
    # A = hi + lo (a double-double matrix, as the attention weights are) times B: the levels
    # capture hi + lo, and the tail bound covers the remainder's dropped low part.
    rng = np.random.default_rng(11)
    hi = np.abs(rng.standard_normal((4, 300)))
    lo = np.array([rng.uniform(-0.5, 0.5) * math.ulp(v) for v in hi.ravel()]).reshape(hi.shape)
    hi, lo = two_sum(hi, lo)
    B = rng.standard_normal((300, 3))
    beta = slice_bits(300, 5)
    As = split_slices(hi, lo, axis=1, beta=beta, max_slices=4)
    Bs = split_slices(B, axis=0, beta=beta, max_slices=4)
    lp = level_products(As, Bs, 5, by="slice")
    saved = flint.ctx.prec
    flint.ctx.prec = EXACT_BITS
    try:
        exact = (exact_mat(hi) + exact_mat(lo)) * exact_mat(B)
        approx = exact_mat(lp.tail)
        for L in lp.levels:
            approx += exact_mat(L)
        err = exact - approx
        bound = lp.tail_bound()
        for i in range(4):
            for j in range(3):
                assert abs(float(err[i, j])) <= bound[i, j]
        # far below what float64 products of hi alone would give
        plain = exact - exact_mat(hi @ B)
        assert max(abs(float(e)) for e in exact_entries(plain)) > 1e6 * bound.max()
    finally:
        flint.ctx.prec = saved


def test_inputs_beyond_the_grid_range_are_refused():
    x = np.array([[2.0**-1000, 1e-310]])
    with pytest.raises(ValueError, match="normal float64 range"):
        split_slices(x, axis=1, beta=20, max_slices=3)
    with pytest.raises(ValueError, match="beta"):
        A = split_slices(np.ones((2, 64)), axis=1, beta=25, max_slices=2)
        level_products(A, split_slices(np.ones((64, 2)), axis=0, beta=25, max_slices=2), 3)


def test_gamma():
    assert gamma(1) > U and gamma(4096) == pytest.approx(4096 * U, rel=1e-9)
    with pytest.raises(ValueError):
        gamma(2**52)
