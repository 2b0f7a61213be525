"""Tier 1 (certified) against closed forms computed independently in mpmath.

Each expected value is derived by hand from the contract (not by the oracle's code path) and
evaluated with mpmath at 60 digits. A check passes when the closed form lies inside the
oracle's certified ball, widened by 1e-45 relative for the closed form's own rounding at 60 digits.
"""

from __future__ import annotations

import math

import flint
import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnspec.oracles.attention.certified import certified_attention
from attnspec.oracles.attention.problem import AttentionProblem

CLOSED_FORM_SLACK = 1e-45  # relative: the 60-digit mpmath evaluation of the closed form


def assert_in_ball(value, mid, radius):
    with mpmath.mp.workdps(60):  # mpf() rounds to the ambient precision: keep it high here
        value = mpmath.mpf(value)
        slack = CLOSED_FORM_SLACK * (abs(value) + 1e-300)
        assert abs(mid - value) <= radius + slack, (value, mid, radius)


def random_problem(rng, B=1, Hq=1, Hk=1, Lq=3, Lk=5, D=4, Dv=3, **options):
    q = rng.standard_normal((B, Hq, Lq, D)).astype(np.float32)
    k = rng.standard_normal((B, Hk, Lk, D)).astype(np.float32)
    v = rng.standard_normal((B, Hk, Lk, Dv)).astype(np.float32)
    return AttentionProblem.build(q, k, v, **options)


def test_zero_queries_and_keys_give_the_mean_of_values():
    rng = np.random.default_rng(1)
    v = rng.standard_normal((1, 1, 7, 3))
    p = AttentionProblem.build(np.zeros((1, 1, 2, 5)), np.zeros((1, 1, 7, 5)), v)
    r = certified_attention(p, digits=40)
    with mpmath.mp.workdps(60):
        for i in range(2):
            for c in range(3):
                mean = mpmath.fsum(mpmath.mpf(x) for x in v[0, 0, :, c]) / 7
                assert_in_ball(mean, r.out[0, 0, i, c], r.out_radius[0, 0, i, c])
            assert_in_ball(mpmath.log(7), r.lse[0, 0, i], r.lse_radius[0, 0, i])


def test_all_keys_equal_give_the_mean_of_values():
    rng = np.random.default_rng(2)
    key = rng.standard_normal(6)
    k = np.tile(key, (1, 1, 9, 1))
    v = rng.standard_normal((1, 1, 9, 2))
    q = rng.standard_normal((1, 1, 3, 6))
    r = certified_attention(AttentionProblem.build(q, k, v), digits=40)
    with mpmath.mp.workdps(60):
        for i in range(3):
            for c in range(2):
                mean = mpmath.fsum(mpmath.mpf(x) for x in v[0, 0, :, c]) / 9
                assert_in_ball(mean, r.out[0, 0, i, c], r.out_radius[0, 0, i, c])


def test_one_visible_key_gives_its_value_exactly():
    rng = np.random.default_rng(3)
    p = random_problem(rng, Lq=4, Lk=6)
    mask = np.zeros((1, 1, 4, 6), dtype=bool)
    for i, j in enumerate([0, 5, 2, 2]):
        mask[0, 0, i, j] = True
    r = certified_attention(AttentionProblem.build(p.q, p.k, p.v, mask=mask), digits=40)
    for i, j in enumerate([0, 5, 2, 2]):
        for c in range(p.value_dim):
            assert_in_ball(p.v[0, 0, j, c], r.out[0, 0, i, c], r.out_radius[0, 0, i, c])
            # w = 1 exactly: the ball must be tight around the exact value
            assert r.out_radius[0, 0, i, c] <= 1e-40 * abs(p.v[0, 0, j, c])


def test_two_keys_give_a_logistic_weight():
    rng = np.random.default_rng(4)
    p = random_problem(rng, Lq=5, Lk=2, D=8, Dv=3, scale=0.37)
    r = certified_attention(p, digits=40)
    with mpmath.mp.workdps(60):
        for i in range(5):
            s = [
                mpmath.mpf(0.37) * mpmath.fsum(mpmath.mpf(a) * mpmath.mpf(b)
                                               for a, b in zip(p.q[0, 0, i], p.k[0, 0, j]))
                for j in range(2)
            ]
            w0 = 1 / (1 + mpmath.exp(s[1] - s[0]))  # logistic in the score difference
            for c in range(3):
                expected = w0 * mpmath.mpf(p.v[0, 0, 0, c]) + (1 - w0) * mpmath.mpf(p.v[0, 0, 1, c])
                assert_in_ball(expected, r.out[0, 0, i, c], r.out_radius[0, 0, i, c])
            lse = s[0] + mpmath.log1p(mpmath.exp(s[1] - s[0]))
            assert_in_ball(lse, r.lse[0, 0, i], r.lse_radius[0, 0, i])


def _brute_force(problem: AttentionProblem, b, h, i, visible_js):
    """Contract formula for one row in mpmath, given the visible keys (listed by hand)."""
    g = h // problem.group_size
    D = problem.head_dim
    scale = 1 / mpmath.sqrt(D) if problem.scale is None else mpmath.mpf(problem.scale)
    offset = problem.kv_len - problem.q_len
    scores = {}
    for j in visible_js:
        x = scale * mpmath.fsum(mpmath.mpf(a) * mpmath.mpf(c)
                                for a, c in zip(problem.q[b, h, i], problem.k[b, g, j]))
        if problem.softcap is not None:
            cap = mpmath.mpf(problem.softcap)
            x = cap * mpmath.tanh(x / cap)
        if problem.alibi_slopes is not None:
            x -= mpmath.mpf(problem.alibi_slopes[h]) * abs(i + offset - j)
        scores[j] = x
    z = mpmath.fsum(mpmath.exp(x) for x in scores.values())
    out = [mpmath.fsum(mpmath.exp(scores[j]) * mpmath.mpf(problem.v[b, g, j, c]) for j in scores) / z
           for c in range(problem.value_dim)]
    return out, mpmath.log(z)


@pytest.mark.parametrize(
    "options, visible",
    [
        # Lq = 3, Lk = 5, offset 2. top_left: j <= i.
        (dict(causal="top_left"), {0: [0], 1: [0, 1], 2: [0, 1, 2]}),
        # bottom_right: j <= i + 2.
        (dict(causal="bottom_right"), {0: [0, 1, 2], 1: [0, 1, 2, 3], 2: [0, 1, 2, 3, 4]}),
        # window (1, 0): i + 2 - 1 <= j <= i + 2.
        (dict(window=(1, 0)), {0: [1, 2], 1: [2, 3], 2: [3, 4]}),
        # window (0, None) (unbounded right): j >= i + 2.
        (dict(window=(0, None)), {0: [2, 3, 4], 1: [3, 4], 2: [4]}),
        # window with causal top_left: j <= i and j >= i + 1: nothing.
        (dict(window=(1, 3), causal="top_left"), {0: [], 1: [], 2: []}),
        (dict(alibi_slopes=np.array([0.5, 0.125]), softcap=2.5), None),
        (dict(scale=-1.75), None),
    ],
)
def test_contract_options_against_a_row_by_row_transcription(options, visible):
    rng = np.random.default_rng(5)
    p = random_problem(rng, B=2, Hq=2, Hk=1, Lq=3, Lk=5, D=4, Dv=2, **options)
    r = certified_attention(p, digits=35)
    with mpmath.mp.workdps(60):
        for b in range(2):
            for h in range(2):
                for i in range(3):
                    js = list(range(5)) if visible is None else visible[i]
                    if not js:
                        assert r.empty[b, h, i] and r.lse[b, h, i] == -mpmath.inf
                        assert all(r.out[b, h, i, c] == 0 for c in range(2))
                        continue
                    out, lse = _brute_force(p, b, h, i, js)
                    for c in range(2):
                        assert_in_ball(out[c], r.out[b, h, i, c], r.out_radius[b, h, i, c])
                    assert_in_ball(lse, r.lse[b, h, i], r.lse_radius[b, h, i])


def test_gqa_query_heads_read_their_kv_head():
    rng = np.random.default_rng(6)
    p = random_problem(rng, Hq=6, Hk=2, Lq=2, Lk=3)
    r = certified_attention(p, digits=30)
    with mpmath.mp.workdps(60):
        for h in range(6):
            out, _ = _brute_force(p, 0, h, 1, [0, 1, 2])  # kv head h // 3, by hand
            for c in range(p.value_dim):
                assert_in_ball(out[c], r.out[0, h, 1, c], r.out_radius[0, h, 1, c])


@settings(max_examples=12)
@given(seed=st.integers(0, 2**32 - 1), logit_scale=st.sampled_from([1.0, 30.0, 1e4]))
def test_certified_digits_are_real(seed, logit_scale):
    """Recompute at far higher precision: the low-precision ball must contain the new midpoint."""
    rng = np.random.default_rng(seed)
    q = (rng.standard_normal((1, 2, 4, 5)) * logit_scale).astype(np.float32)
    k = rng.standard_normal((1, 1, 6, 5)).astype(np.float32)
    v = rng.standard_normal((1, 1, 6, 3))
    p = AttentionProblem.build(q, k, v, causal="bottom_right")
    low = certified_attention(p, digits=30)
    high = certified_attention(p, digits=90)
    assert low.digits >= 30 and high.digits >= 90
    with mpmath.mp.workdps(100):
        assert np.all(np.abs(low.out - high.out).astype(float) <= low.out_radius + high.out_radius)
        assert np.all(np.abs(low.lse - high.lse).astype(float) <= low.lse_radius + high.lse_radius)


def test_precision_is_scoped_inside_the_oracle():
    flint_prec, mp_prec = flint.ctx.prec, mpmath.mp.prec
    certified_attention(random_problem(np.random.default_rng(7)), digits=70)
    assert (flint.ctx.prec, mpmath.mp.prec) == (flint_prec, mp_prec)


def test_exact_cancellation_is_certified_against_the_output_scale():
    # v = (1, -1) with equal weights: the output is exactly 0; relative digits are
    # meaningless, so digits are certified against sum_j w_j |v_j| = 1.
    q = np.zeros((1, 1, 1, 2))
    k = np.zeros((1, 1, 2, 2))
    v = np.array([1.0, -1.0]).reshape(1, 1, 2, 1)
    r = certified_attention(AttentionProblem.build(q, k, v), digits=40)
    assert r.out[0, 0, 0, 0] == 0 or r.out_radius[0, 0, 0, 0] <= 1e-40
    assert r.out_scale[0, 0, 0, 0] == pytest.approx(1.0)
    assert r.digits >= 40


def test_double_double_view_matches_the_midpoint():
    r = certified_attention(random_problem(np.random.default_rng(8)), digits=40)
    hi, lo = r.out_double_double()
    with mpmath.mp.workdps(60):
        for idx in np.ndindex(hi.shape):
            assert abs(mpmath.mpf(hi[idx]) + mpmath.mpf(lo[idx]) - r.out[idx]) <= 2.0**-104 * abs(hi[idx])


def test_wide_float64_inputs_are_taken_exactly():
    # 1 + 2^-52 and 1 differ only in the last bit; a float32 detour would merge them.
    k = np.array([[1.0, 0.0], [1.0 + 2.0**-52, 0.0]]).reshape(1, 1, 2, 2)
    q = np.array([2.0**45, 0.0]).reshape(1, 1, 1, 2)
    v = np.array([0.0, 1.0]).reshape(1, 1, 2, 1)
    r = certified_attention(AttentionProblem.build(q, k, v, scale=1.0), digits=30)
    # scores differ by exactly 2^45 * 2^-52 = 2^-7: w_1 = 1 / (1 + e^(-2^-7))
    with mpmath.mp.workdps(60):
        expected = 1 / (1 + mpmath.exp(-mpmath.mpf(2) ** -7))
    assert_in_ball(expected, r.out[0, 0, 0, 0], r.out_radius[0, 0, 0, 0])
    assert math.isfinite(float(r.lse[0, 0, 0]))
