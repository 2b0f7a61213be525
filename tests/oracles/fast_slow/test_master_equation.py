"""oracles/fast_slow/master_equation.py and two_state.py: p_st, its derivative and psi."""

import math

import numpy as np
from attnspec.oracles.fast_slow import master_equation as me
from attnspec.oracles.fast_slow import two_state
from hypothesis import given, settings
from hypothesis import strategies as st
from mpmath import mp

DPS = 50


def test_p_st_at_0_3_matches_the_claims_card():
    # docs/claims.md section 4 states p_st(0.3) = (0.562829393439, 0.437170606561) to 12 digits
    p = me.stationary_distribution(two_state.rate_matrix(mp.mpf("0.3")), DPS)
    assert abs(p[0] - mp.mpf("0.562829393439")) < 1e-12
    assert abs(p[1] - mp.mpf("0.437170606561")) < 1e-12


@given(st.floats(-10, 10))
@settings(max_examples=20, deadline=None)
def test_p_st_and_psi_against_the_two_state_closed_forms(y):
    # two independent derivations at 50 digits: they agree to the working precision
    # (10^(10 - DPS) leaves room for mp.diff's finite-difference error at DPS + 20 digits)
    with mp.workdps(DPS):
        p = me.stationary_distribution(two_state.rate_matrix(mp.mpf(y)), DPS)
        assert mp.norm(p - two_state.stationary_closed_form(y, DPS)) < mp.mpf(10) ** (5 - DPS)
        psi = me.corrector(two_state.rate_matrix, y, lambda p_: two_state.drift(p_, mp.mpf(y)), DPS)
        assert mp.norm(psi - two_state.corrector_closed_form(y, DPS)) < mp.mpf(10) ** (10 - DPS)


@st.composite
def rate_matrices(draw, max_states=5):
    """Irreducible rate matrices (every off-diagonal rate positive), exact in mpmath: the
    diagonal is minus the exact row sum, so rows sum to zero exactly."""
    n = draw(st.integers(2, max_states))
    with mp.workdps(DPS):
        Q = mp.matrix(n, n)
        for i in range(n):
            for j in range(n):
                if i != j:
                    Q[i, j] = mp.mpf(draw(st.floats(0.01, 10)))
            Q[i, i] = -mp.fsum(Q[i, j] for j in range(n) if j != i)
    return Q


@given(rate_matrices())
@settings(max_examples=30, deadline=None)
def test_q_transpose_p_st_is_zero_and_p_st_is_a_distribution(Q):
    # the property Q^T p_st = 0: an n-term sum of products at DPS digits errs by at most
    # n max|Q| 10^-DPS; 10^(5 - DPS) max|Q| allows n <= 10^5
    with mp.workdps(DPS):
        p = me.stationary_distribution(Q, DPS)
        scale = max(abs(Q[i, j]) for i in range(Q.rows) for j in range(Q.cols))
        assert me.stationary_residual(Q, p, DPS) < scale * mp.mpf(10) ** (5 - DPS)
        assert abs(mp.fsum(p) - 1) < mp.mpf(10) ** (5 - DPS)
        assert all(p[i] > 0 for i in range(Q.rows))  # irreducible: every state has mass


@given(rate_matrices(max_states=4), st.floats(-2, 2))
@settings(max_examples=8, deadline=None)
def test_corrector_solves_its_equation(Q0, v):
    # Q(y) = Q0 + y B with B a fixed rate matrix: psi solves Q^T psi = p_st' v, 1^T psi = 0
    n = Q0.rows
    B = [[1.0 if j == (i + 1) % n else 0.0 for j in range(n)] for i in range(n)]
    for i in range(n):
        B[i][i] = -1.0

    def Q_of_y(y):
        return Q0 + y * mp.matrix(B)

    with mp.workdps(DPS):
        y = mp.mpf("0.25")
        psi = me.corrector(Q_of_y, y, v, DPS)
        dp = me.stationary_derivative(Q_of_y, y, DPS)
        # central difference of p_st with h = 1e-12 at DPS digits: truncation ~ h^2 |p'''|
        h = mp.mpf(10) ** -12
        fd = (me.stationary_distribution(Q_of_y(y + h), DPS)
              - me.stationary_distribution(Q_of_y(y - h), DPS)) / (2 * h)
        assert mp.norm(dp - fd) < mp.mpf(10) ** -20
        r = Q_of_y(y).T * psi - dp * v
        assert mp.norm(r) < mp.mpf(10) ** (10 - DPS)
        assert abs(mp.fsum(psi)) < mp.mpf(10) ** (10 - DPS)


def test_float64_closed_forms_agree_with_mpmath():
    ys = np.linspace(-7, 7, 57)
    p1, psi1 = two_state.closed_forms_float64(ys)
    for y, a, b in zip(ys, p1, psi1):
        p = two_state.stationary_closed_form(float(y), 30)
        psi = two_state.corrector_closed_form(float(y), 30)
        # a few float64 operations on O(1) values: within 1e-15 absolute
        assert abs(a - float(p[0])) < 1e-15
        assert abs(b - float(psi[0])) < 1e-15


def test_sup_psi_of_the_example():
    # the measured sup|psi| over a full period of y (the trajectory of properties/fast_slow/
    # tracking.py covers y in [0.3, 6.15], which holds the maximum at y ~ 4.02)
    ys = np.linspace(0, 2 * math.pi, 200001)
    _, psi1 = two_state.closed_forms_float64(ys)
    k = int(np.abs(psi1).argmax())
    assert 3.9 < ys[k] < 4.1
    y_star = float(mp.findroot(lambda y: mp.diff(lambda s: two_state.corrector_closed_form(s, 30)[0], y),
                               ys[k]))
    sup = abs(float(two_state.corrector_closed_form(y_star, 30)[0]))
    assert abs(sup - np.abs(psi1).max()) < 1e-9  # grid spacing 3e-5, curvature O(1)
    assert round(sup, 5) == 0.21393
