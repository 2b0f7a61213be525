"""Canonical ALiBi slopes, exactly.

Claim [L] (Press, Smith, Lewis 2022, "Train Short, Test Long"; reference code
ofirpress/attention_with_linear_biases): for H a power of two, head h = 1..H has slope
m_h = 2^(-8h/H). Otherwise, with c = 2^floor(log2 H): the c slopes of the c-head rule, then
m_(c+k) = 2^(-4(2k-1)/c) for k = 1..H-c (the odd-indexed slopes of the 2c-head rule).
Example: H = 12 gives 2^-1/2^... 2^-8 (eight heads) then 2^(-1/2), 2^(-3/2), 2^(-5/2), 2^(-7/2).

Every slope is 2 raised to an exact rational exponent; this oracle keeps the exponent exact and
evaluates the power in mpmath at the precision asked for (scoped), or rounds it correctly to
float64.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath


def canonical_alibi_exponents(num_heads: int) -> list[Fraction]:
    """Exact exponents e_h with slope_h = 2^e_h, h = 1..num_heads, in head order."""
    if int(num_heads) != num_heads or num_heads < 1:
        raise ValueError(f"num_heads must be a positive integer, got {num_heads!r}")
    c = 1 << (int(num_heads).bit_length() - 1)  # largest power of two <= H
    exponents = [Fraction(-8 * h, c) for h in range(1, c + 1)]
    exponents += [Fraction(-4 * (2 * k - 1), c) for k in range(1, num_heads - c + 1)]
    return exponents


def canonical_alibi_slopes(num_heads: int, dps: int = 50) -> list[mpmath.mpf]:
    """Slopes 2^e_h as mpf values good to ``dps`` digits (computed with 10 guard digits)."""
    with mpmath.mp.workdps(dps + 10):
        return [
            +mpmath.power(2, mpmath.mpf(e.numerator) / e.denominator)
            for e in canonical_alibi_exponents(num_heads)
        ]


def canonical_alibi_slopes_float64(num_heads: int) -> list[float]:
    """Slopes correctly rounded to float64 (to nearest: 60 digits leave no rounding doubt
    except for exact powers of two, which are representable)."""
    return [float(s) for s in canonical_alibi_slopes(num_heads, dps=60)]
