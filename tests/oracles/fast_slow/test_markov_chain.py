"""oracles/fast_slow/markov_chain.py: the stationary law of a row-stochastic matrix."""

from attnspec.oracles.fast_slow import markov_chain as mc
from hypothesis import given, settings
from hypothesis import strategies as st
from mpmath import mp


@given(st.floats(0.01, 0.99), st.floats(0.01, 0.99))
def test_two_state_kernel_closed_form(a, b):
    # [[1 - a, a], [b, 1 - b]]: pi = (b, a)/(a + b), tau = |1 - a - b| (Seneta 2006, 3.1)
    with mp.workdps(40):
        A = mp.matrix([[1 - mp.mpf(a), a], [b, 1 - mp.mpf(b)]])
        pi = mc.stationary_law(A, 40)
        assert abs(pi[0] - mp.mpf(b) / (mp.mpf(a) + b)) < mp.mpf(10) ** -35
        assert abs(mc.ergodicity_coefficient(A, 40) - abs(1 - mp.mpf(a) - b)) < mp.mpf(10) ** -35


@st.composite
def stochastic(draw):
    n = draw(st.integers(1, 6))
    rows = [[draw(st.floats(0.001, 1)) for _ in range(n)] for _ in range(n)]
    return [[x / sum(r) for x in r] for r in rows]


@given(stochastic())
@settings(max_examples=30, deadline=None)
def test_pi_is_invariant_and_powers_converge_within_the_dobrushin_bound(rows):
    with mp.workdps(40):
        A = mp.matrix(rows)
        n = A.rows
        for i in range(n):  # float rows sum to 1 only within float rounding: renormalise exactly
            s = mp.fsum(A[i, j] for j in range(n))
            for j in range(n):
                A[i, j] /= s
        pi = mc.stationary_law(A, 40)
        assert mp.norm(A.T * pi - pi) < mp.mpf(10) ** -35
        tau = mc.ergodicity_coefficient(A, 40)
        assert 0 <= tau <= 1
        An = A ** 8
        for i in range(n):
            gap = mp.fsum(abs(An[i, j] - pi[j]) for j in range(n))
            assert gap <= 2 * tau ** 8 + mp.mpf(10) ** -30


def test_softmax_matrix_rows_are_distributions_and_causal_is_lower_triangular():
    q = [[0.5, -1.0], [2.0, 0.25], [0.0, 1.0]]
    k = [[1.0, 0.0], [0.5, 0.5], [-1.0, 2.0]]
    A = mc.softmax_matrix(q, k, 0.7, causal=True)
    assert A[0, 1] == 0 and A[0, 2] == 0 and A[1, 2] == 0
    pi = mc.stationary_law(A)
    assert abs(pi[0] - 1) < 1e-40  # key 0 absorbs a causal chain
    full = mc.softmax_matrix(q, k, 0.7)
    assert all(abs(mp.fsum(full[i, j] for j in range(3)) - 1) < 1e-45 for i in range(3))
