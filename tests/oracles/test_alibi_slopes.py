"""Canonical ALiBi slopes: the oracle against the paper's stated values."""

from fractions import Fraction

import mpmath
import pytest

from attnspec.oracles.attention.alibi_slopes import (
    canonical_alibi_exponents,
    canonical_alibi_slopes,
    canonical_alibi_slopes_float64,
)


def test_eight_heads_are_halvings():
    # Press et al.: H = 8 gives 1/2, 1/4, ..., 1/256.
    assert canonical_alibi_slopes_float64(8) == [2.0**-h for h in range(1, 9)]


def test_twelve_heads_interleave():
    # docs/claims.md section 0: H = 12 gives 1/2 ... 1/256 then 2^-1/2, 2^-3/2, 2^-5/2, 2^-7/2.
    expected = [Fraction(-h) for h in range(1, 9)] + [Fraction(-k, 2) for k in (1, 3, 5, 7)]
    assert canonical_alibi_exponents(12) == expected


@pytest.mark.parametrize("H", [1, 2, 3, 5, 6, 7, 12, 16, 24, 40, 64])
def test_exponents_follow_the_rule(H):
    c = 2 ** (H.bit_length() - 1)
    exps = canonical_alibi_exponents(H)
    assert len(exps) == H
    assert exps[:c] == [Fraction(-8 * h, c) for h in range(1, c + 1)]
    # the extra heads are the odd-indexed slopes of the 2c-head rule
    assert exps[c:] == [Fraction(-8 * h, 2 * c) for h in range(1, 2 * c + 1, 2)][: H - c]


def test_slopes_are_the_stated_powers_to_the_asked_precision():
    with mpmath.mp.workdps(80):
        for s, e in zip(canonical_alibi_slopes(12, dps=70), canonical_alibi_exponents(12)):
            exact = mpmath.mpf(2) ** (mpmath.mpf(e.numerator) / e.denominator)
            assert abs(s - exact) <= mpmath.mpf(10) ** -70 * exact


def test_bad_head_counts_are_rejected():
    with pytest.raises(ValueError):
        canonical_alibi_exponents(0)
