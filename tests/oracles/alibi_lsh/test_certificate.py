"""The ratio estimator's exact error identity and its uniform certificate (certificate.py)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from mpmath import mp

from attnspec.oracles.alibi_lsh import certificate as C
from attnspec.oracles.alibi_lsh import expectation as E
from attnspec.oracles.alibi_lsh import schemes as S
from attnspec.oracles.attention.float64 import attention64
from attnspec.oracles.attention.problem import AttentionProblem

U = 2.0 ** -53


@st.composite
def ratio_problems(draw, max_rows=5, max_keys=8):
    """Arbitrary non-negative Mbar and P on a visible pattern holding each row's diagonal,
    scores over a range up to 60 (e^60 ~ 1e26), values over any sign and size."""
    rows = draw(st.integers(1, max_rows))
    keys = draw(st.integers(rows, max_keys))
    dv = draw(st.integers(1, 3))
    offset = keys - rows
    visible = draw(arrays(bool, (rows, keys)))
    visible[np.arange(rows), np.arange(rows) + offset] = True
    unit = st.floats(0.0, 1.0)
    mbar = np.where(visible, draw(arrays(np.float64, (rows, keys), elements=unit)), 0.0)
    p = np.where(visible, draw(arrays(np.float64, (rows, keys), elements=unit)), 0.0)
    diagonal = (np.arange(rows), np.arange(rows) + offset)
    mbar[diagonal] = p[diagonal] = 1.0  # every mask holds its diagonal; P_ii = e^0
    scores = draw(arrays(np.float64, (rows, keys), elements=st.floats(-30.0, 30.0)))
    values = draw(arrays(np.float64, (keys, dv), elements=st.floats(-1e3, 1e3)))
    return scores, mbar, p, values, visible


def certificate_of(scores, mbar, p, values, visible):
    kappa = C.certificate_kappa(mbar, p)
    return C.certificate_bound(C.score_range(scores, visible), C.value_diameter(values, visible), kappa)


@settings(max_examples=50, deadline=None)
@given(problem=ratio_problems())
def test_error_identity_is_exact(problem):
    scores, mbar, p, values, visible = problem
    # both sides at 60 digits: ytilde and y are averages of the values, good to ~1e-60 max|v|;
    # the right side multiplies y's error by sum W|E| / sum W Mbar <= e^R kappa (tolerance 1e-55)
    amplification = 1 + np.exp(C.score_range(scores, visible)) * C.certificate_kappa(mbar, p)
    with mp.workdps(50):
        lhs, rhs = C.ratio_estimator_error_mp(scores, mbar, p, values, dps=50)
        for lrow, rrow, k in zip(lhs, rhs, amplification):
            for a, b in zip(lrow, rrow):
                assert abs(a - b) <= mp.mpf(10) ** -55 * (1 + np.abs(values).max()) * k


def check_certificate(scores, mbar, p, values, visible, dps=40):
    """|ytilde - y| (mpmath) within the float64 certificate, every row and value dim."""
    bound = certificate_of(scores, mbar, p, values, visible)
    with mp.workdps(dps):
        error, _ = C.ratio_estimator_error_mp(scores, mbar, p, values, dps=dps)
        slack = mp.mpf(10) ** (5 - dps) * (1 + np.abs(values).max())  # the reference's own rounding
        for row, b in zip(error, bound):
            assert all(abs(e) <= b + slack for e in row)


@settings(max_examples=50, deadline=None)
@given(problem=ratio_problems())
def test_certificate_holds_for_any_scores_values_and_masks(problem):
    check_certificate(*problem)


@settings(max_examples=50, deadline=None)
@given(problem=ratio_problems())
def test_lse_certificate_holds(problem):
    scores, mbar, p, _, visible = problem
    bound = C.lse_certificate_bound(C.score_range(scores, visible), C.certificate_kappa(mbar, p))
    with mp.workdps(40):
        for error, b in zip(C.lse_error_mp(scores, mbar, p, dps=40), bound):
            assert abs(error) <= b + mp.mpf(10) ** -35  # the reference's own rounding


@pytest.mark.long
@settings(max_examples=2000, deadline=None)
@given(problem=ratio_problems(max_rows=8, max_keys=16))
def test_certificate_holds_for_any_scores_values_and_masks_long(problem):
    check_certificate(*problem)


@settings(max_examples=50, deadline=None)
@given(problem=ratio_problems())
def test_float64_identity_within_its_rounding_bound(problem):
    scores, mbar, p, values, visible = problem
    rhs = C.ratio_estimator_error_identity(scores, mbar, p, values)
    # First-order rounding analysis of the float64 form: each weight e^(s - top) carries a relative
    # (R + 2) u (the argument's rounding, u |s - top| <= u R, and exp's ulp), each sum gamma_keys,
    # y its quotient's; the tolerance is 2 (R + keys + 8) u (A + |rhs| + max|v| B) with
    # A = sum W|E||v - y| / sum W Mbar and B = sum W|E| / sum W Mbar.
    r = C.score_range(scores, visible)[:, None]
    keys = scores.shape[1]
    w = np.exp(scores - np.where(visible, scores, -np.inf).max(axis=1, keepdims=True)) * visible
    y = C.ratio_estimate(scores, p, values)
    mass = (w * mbar).sum(axis=1, keepdims=True)
    a = np.einsum("ij,ijc->ic", w * np.abs(mbar - p), np.abs(values[None] - y[:, None])) / mass
    b = (w * np.abs(mbar - p)).sum(axis=1, keepdims=True) / mass
    with mp.workdps(50):
        # the reference is the identity's right side in mpmath (equal to ytilde - y, test above),
        # which does not cancel: ytilde - y itself loses everything below 1e-60 max|v|
        _, exact = C.ratio_estimator_error_mp(scores, mbar, p, values, dps=50)
        exact = np.array([[float(x) for x in row] for row in exact])
    tolerance = 2 * (r + keys + 8) * U * (a + np.abs(exact) + np.abs(values).max() * b)
    # gradual underflow: an absolute 2^-1075 per rounding of a tiny product, divided by the mass
    tolerance += 4 * (keys + 2) * 2.0**-1074 / mass
    assert np.all(np.abs(rhs - exact) <= tolerance)


sampled_problems = dict(
    lq=st.integers(1, 24), extra=st.integers(0, 24), slope=st.floats(0.02, 2.0), s=st.integers(1, 16),
    scheme=st.sampled_from(["binning", "gap_cut"]), causal=st.sampled_from([None, "bottom_right"]),
    score_scale=st.floats(0.0, 8.0), seed=st.integers(0, 2**32 - 1))


def check_sampled(lq, extra, slope, s, scheme, causal, score_scale, seed):
    # the use the kernel makes of it: Mbar from sampled masks over the key positions, rows at
    # key positions i + Lk - Lq, P = causal ALiBi
    lk = lq + extra
    rng = np.random.default_rng(seed)
    sampler = S.binning_block_ids if scheme == "binning" else S.gap_cut_block_ids
    rows = np.arange(lq) + lk - lq
    p = E.alibi_expectation(lq, lk, slope, causal)
    visible = p > 0
    mbar = S.mean_mask(sampler(lk, slope, s, rng))[rows] * visible
    check_certificate(score_scale * rng.standard_normal((lq, lk)), mbar, p, rng.standard_normal((lk, 3)),
                      visible)


@settings(max_examples=15, deadline=None)
@given(**sampled_problems)
def test_certificate_holds_for_sampled_masks(**problem):
    check_sampled(**problem)


@pytest.mark.long
@settings(max_examples=500, deadline=None)
@given(**sampled_problems)
def test_certificate_holds_for_sampled_masks_long(**problem):
    check_sampled(**problem)


def test_ratio_estimate_with_p_is_alibi_attention():
    # y with G = P is the contract's ALiBi attention (attention wing's float64 evaluation)
    rng = np.random.default_rng(3)
    lq, lk, slope = 9, 14, 0.3
    q, k, v = rng.standard_normal((1, 1, lq, 4)), rng.standard_normal((1, 1, lk, 4)), rng.standard_normal((1, 1, lk, 2))
    problem = AttentionProblem.build(q, k, v, causal="bottom_right", alibi_slopes=np.array([slope]))
    out, _, _ = attention64(problem)
    scores = (q[0, 0] @ k[0, 0].T) / 2.0  # scale 1/sqrt(4)
    y = C.ratio_estimate(scores, E.alibi_expectation(lq, lk, slope, "bottom_right"), v[0, 0])
    # two float64 evaluations of the same sums: relative ~ (R + lk) u of max|v| (bound 64 (R + lk) u)
    r = C.score_range(scores, np.ones_like(scores, dtype=bool)).max()
    assert np.abs(y - out[0, 0]).max() <= 64 * (r + slope * lk + lk) * U * np.abs(v).max()


def test_kappa_edge_rows():
    mbar = np.array([[0.0, 0.0], [1.0, 0.5], [0.0, 0.0]])
    p = np.array([[0.0, 0.0], [1.0, 0.25], [0.5, 0.0]])
    kappa = C.certificate_kappa(mbar, p)
    assert kappa[0] == 0 and np.isinf(kappa[2])
    assert kappa[1] >= 0.25 / 1.5 and kappa[1] <= 0.25 / 1.5 * (1 + 16 * U)
    assert np.all(C.certificate_bound(np.array([800.0, 1.0]), np.array([2.0, 0.0]), np.array([0.0, 3.0])) == 0)


def test_certificate_falls_with_draws():
    # kappa is a mean absolute deviation of Mbar from P over a row: it falls like s^(-1/2)
    # (binomial entries; E|Mbar - P| ~ sqrt(P(1-P)/s)); 16x the draws -> ~4x smaller (3x..6x)
    n, slope = 256, 1 / 16
    rng = np.random.default_rng(4)
    p = E.kms_matrix(n, slope)
    k1 = C.certificate_kappa(S.mean_mask(S.binning_block_ids(n, slope, 64, rng)), p).mean()
    k16 = C.certificate_kappa(S.mean_mask(S.binning_block_ids(n, slope, 1024, rng)), p).mean()
    assert 3 < k1 / k16 < 6


def test_lse_certificate_is_finite_and_holds_for_many_masks():
    # s = 256 masks, sigma = 8, small score range: e^R kappa < 1 on every row, so every row has a
    # finite LSE bound, and it holds (mpmath reference)
    n, slope, s = 48, 1 / 8, 256
    rng = np.random.default_rng(6)
    p = E.kms_matrix(n, slope)
    mbar = S.mean_mask(S.gap_cut_block_ids(n, slope, s, rng))
    scores = 0.05 * rng.standard_normal((n, n))
    bound = C.lse_certificate_bound(C.score_range(scores, p > 0), C.certificate_kappa(mbar, p))
    assert np.all(np.isfinite(bound))
    with mp.workdps(30):
        errors = C.lse_error_mp(scores, mbar, p, dps=30)
    assert all(abs(e) <= b for e, b in zip(errors, bound))
