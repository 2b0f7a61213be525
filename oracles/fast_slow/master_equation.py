"""The master equation's equilibrium: p_st(y) of a rate matrix Q(y) and the first-order corrector psi.

Claims (docs/claims.md section 4; [L] Tikhonov 1952, Fenichel 1979, the master equation of a
continuous-time Markov chain; [P] Gao 2026: under a linear generator the equilibrium manifold
x = phi(y) of eps dx/dt = Q(y)^T x, dy/dt = g(x, y) is the stationary distribution p_st(y)):

    p_st(y):  Q(y)^T p_st = 0, 1^T p_st = 1            (unique when Q(y) is irreducible)
    psi(y):   Q(y)^T psi = (d p_st / dy) g(p_st(y), y), 1^T psi = 0
              (solvable: 1^T d p_st/dy = 0, and the range of Q^T is {v : 1^T v = 0})
    x(t) = p_st(y(t)) + eps psi(y(t)) + O(eps^2) after an initial layer O(eps log(1/eps)).

Domain: Q an n x n rate matrix (off-diagonal >= 0, rows summing to 0), irreducible; y a scalar.
Every function opens its own ``mp.workdps(dps)`` and returns mpmath matrices (column vectors).
The linear systems are solved with one equation of Q^T replaced by the normalisation, which is
exact for an irreducible Q (rank n - 1, null space of Q^T spanned by p_st).
"""

from __future__ import annotations

from mpmath import mp


def _rate_matrix(Q):
    """Q as an mpmath matrix, after checking it is a square rate matrix (to 1e-(dps-5))."""
    Q = mp.matrix(Q)
    n = Q.rows
    if Q.cols != n or n < 1:
        raise ValueError(f"a rate matrix must be square, got {Q.rows} x {Q.cols}")
    scale = max([abs(Q[i, j]) for i in range(n) for j in range(n)] + [mp.mpf(1)])
    for i in range(n):
        if abs(mp.fsum(Q[i, j] for j in range(n))) > scale * mp.mpf(10) ** (5 - mp.dps):
            raise ValueError(f"row {i} of Q does not sum to zero")
        if any(Q[i, j] < 0 for j in range(n) if j != i):
            raise ValueError(f"row {i} of Q has a negative off-diagonal rate")
    return Q


def _solve_with_normalisation(Q, rhs, total):
    """x with Q^T x = rhs in every row but the last, and 1^T x = total (replacing the last)."""
    n = Q.rows
    A = Q.T
    b = mp.matrix(rhs)
    for j in range(n):
        A[n - 1, j] = mp.mpf(1)
    b[n - 1] = mp.mpf(total)
    return mp.lu_solve(A, b)


def stationary_distribution(Q, dps: int = 50):
    """p_st with Q^T p_st = 0 and 1^T p_st = 1: [n] column, the master equation's equilibrium [L]."""
    with mp.workdps(dps):
        Q = _rate_matrix(Q)
        return _solve_with_normalisation(Q, mp.matrix(Q.rows, 1), 1)


def stationary_residual(Q, p, dps: int = 50):
    """max_i |(Q^T p)_i|: the property Q^T p_st = 0 reads it (mpf)."""
    with mp.workdps(dps):
        Q = mp.matrix(Q)
        r = Q.T * mp.matrix(p)
        return max(abs(r[i]) for i in range(r.rows))


def stationary_derivative(Q_of_y, y, dps: int = 50):
    """d p_st / dy at y [D]: differentiating Q^T p = 0, 1^T p = 1 gives Q^T p' = -(dQ/dy)^T p,
    1^T p' = 0. dQ/dy by a central difference at 2 dps + 10 working digits with
    h = 10^-(dps + 5): truncation h^2 |Q^(3)|/6 and rounding 10^-(2 dps + 10)/h are both
    ~10^-(dps + 5) for Q(y) with moderate derivatives, below the dps digits returned."""
    with mp.workdps(2 * dps + 10):
        y = mp.mpf(y)
        h = mp.mpf(10) ** -(dps + 5)
        Q = _rate_matrix(Q_of_y(y))
        dQ = (mp.matrix(Q_of_y(y + h)) - mp.matrix(Q_of_y(y - h))) / (2 * h)
        p = _solve_with_normalisation(Q, mp.matrix(Q.rows, 1), 1)
        dp = _solve_with_normalisation(Q, -(dQ.T * p), 0)
    with mp.workdps(dps):
        return dp * 1


def corrector(Q_of_y, y, ydot, dps: int = 50):
    """psi(y) of x = p_st + eps psi + O(eps^2) [L]: Q^T psi = (d p_st/dy) ydot, 1^T psi = 0.

    ``ydot`` is the slow velocity dy/dt on the manifold, g(p_st(y), y) for the continuous
    system (a number, or a callable of p_st). [n] column.
    """
    with mp.workdps(dps + 10):
        y = mp.mpf(y)
        Q = _rate_matrix(Q_of_y(y))
        p = _solve_with_normalisation(Q, mp.matrix(Q.rows, 1), 1)
        v = ydot(p) if callable(ydot) else mp.mpf(ydot)
        dp = stationary_derivative(Q_of_y, y, dps + 10)
        psi = _solve_with_normalisation(Q, dp * v, 0)
    with mp.workdps(dps):
        return psi * 1
