"""The closed form for arithmetic-progression scores against both oracle tiers."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from attnspec.oracles.attention.certified import certified_attention
from attnspec.oracles.attention.fast_exact.driver import fast_exact_attention
from attnspec.oracles.attention.geometric_attention import geometric_attention, progression_inputs
from attnspec.oracles.attention.problem import AttentionProblem


def problem(s0, delta, n, theta):
    q, k, v = progression_inputs(s0, delta, n, theta)
    return AttentionProblem.build(q, k, v, scale=0.5)


@pytest.mark.parametrize("s0, delta, n, theta", [(3.0, 0.25, 7, 0.3), (-40.0, 2.0**-6, 300, 1.1),
                                                 (1e3, 2.0**-10, 64, 0.0)])
def test_closed_form_lies_in_the_certified_ball(s0, delta, n, theta):
    out, lse = geometric_attention(s0, delta, n, theta)
    r = certified_attention(problem(s0, delta, n, theta), digits=35)
    # The oracle sees the float64 values; the closed form, exact ones. Column 1 is exact; j/n
    # is exact only for n a power of two (else rounded: <= 2^-53); numpy evaluates
    # cos(fl(theta j)), off by <= (|theta| j + 2) 2^-53 (argument rounding, then an ulp of cos).
    # A weighted mean of values off by at most e is off by at most e.
    rounded = 0.0 if n & (n - 1) == 0 else 2.0**-53
    cos_err = (abs(theta) * (n - 1) + 2) * 2.0**-53
    with mpmath.mp.workdps(40):
        for c, tol in ((0, 1e-33), (1, 1e-33 + rounded), (2, cos_err)):
            assert abs(out[c] - r.out[0, 0, 0, c]) <= tol + r.out_radius[0, 0, 0, c]
        assert abs(lse - r.lse[0, 0, 0]) <= 1e-30 * abs(lse) + r.lse_radius[0, 0, 0]


def test_closed_form_against_tier2_at_65536_keys():
    s0, delta, n = 12.5, 2.0**-12, 2**16
    out, lse = geometric_attention(s0, delta, n)
    r = fast_exact_attention(problem(s0, delta, n, 0.0))
    # tier 2's own bound (~1e-30 of the output scale, here <= 1) and the closed form's 40 digits
    with mpmath.mp.workdps(40):  # hi + lo must be added above double precision
        for c in (0, 1):
            got = mpmath.mpf(r.out_hi[0, 0, 0, c]) + mpmath.mpf(r.out_lo[0, 0, 0, c])
            assert abs(got - out[c]) <= r.out_error_bound[0, 0, 0, c] + 1e-38
        got = mpmath.mpf(r.lse_hi[0, 0, 0]) + mpmath.mpf(r.lse_lo[0, 0, 0])
        assert abs(got - lse) <= r.lse_error_bound[0, 0, 0] + 1e-38 * abs(lse)


def test_inputs_are_exact_in_float32_for_dyadic_steps():
    q, k, v = progression_inputs(8.0, 2.0**-8, 2**20)
    assert np.array_equal(k.astype(np.float32).astype(np.float64), k)
    assert np.array_equal(v[..., :2].astype(np.float32).astype(np.float64), v[..., :2])
