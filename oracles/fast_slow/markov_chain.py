"""A row-stochastic matrix is a Markov kernel: its stationary law and how fast powers reach it.

Claims ([L] Perron-Frobenius; Dobrushin 1956; Seneta, Non-negative Matrices and Markov Chains,
2006, sections 3.1 and 4.3): for a row-stochastic A (A_ij >= 0, rows summing to 1), a
stationary law pi has pi^T A = pi^T, 1^T pi = 1; it is the master-equation equilibrium of the
rate matrix Q = A - I (master_equation.py). With the ergodicity coefficient

    tau(A) = 1/2 max_(i, j) sum_k |A_ik - A_jk|   (in [0, 1]),

every row of A^n is within tau(A)^n ||e_i - pi||_1 <= 2 tau(A)^n of pi in the 1-norm, and a
stochastic perturbation A + E has a stationary law within ||E||_inf / (1 - tau(A)) of pi
(1-norm). A softmax attention matrix with every key visible has all entries positive, so
tau < 1 and pi is unique. Causal attention is lower triangular: key 0 is absorbing, pi = e_0.

Domain: square A whose rows sum to 1 within 1e-(dps-5); unique pi (tau(A^m) < 1 for some m).
"""

from __future__ import annotations

from attnspec.oracles.fast_slow.master_equation import stationary_distribution
from mpmath import mp


def _stochastic(A):
    A = mp.matrix(A)
    n = A.rows
    if A.cols != n:
        raise ValueError(f"a Markov kernel is square, got {A.rows} x {A.cols}")
    for i in range(n):
        if abs(mp.fsum(A[i, j] for j in range(n)) - 1) > mp.mpf(10) ** (5 - mp.dps):
            raise ValueError(f"row {i} does not sum to 1")
        if any(A[i, j] < 0 for j in range(n)):
            raise ValueError(f"row {i} has a negative entry")
    return A


def stationary_law(A, dps: int = 50):
    """pi with pi^T A = pi^T, 1^T pi = 1 ([n] column): the equilibrium of Q = A - I [L]."""
    with mp.workdps(dps):
        A = _stochastic(A)
        n = A.rows
        return stationary_distribution(A - mp.eye(n), dps)


def ergodicity_coefficient(A, dps: int = 50):
    """Dobrushin's tau(A) = 1/2 max_(i,j) ||A_i - A_j||_1 [L] (mpf in [0, 1])."""
    with mp.workdps(dps):
        A = _stochastic(A)
        n = A.rows
        return max(mp.fsum(abs(A[i, c] - A[j, c]) for c in range(n)) / 2
                   for i in range(n) for j in range(n))


def softmax_matrix(q, k, scale, causal: bool = False, dps: int = 50):
    """The exact attention matrix A_ij = softmax_j(scale <q_i, k_j>) of float inputs, one head
    ([L, D] nested sequences of floats), top-left causal when asked: the Markov kernel whose
    stationary law a kernel's iterated attention is held against [D]."""
    with mp.workdps(dps):
        L = len(q)
        A = mp.matrix(L, L)
        for i in range(L):
            keys = range(i + 1) if causal else range(len(k))
            s = [mp.mpf(scale) * mp.fsum(mp.mpf(a) * mp.mpf(b) for a, b in zip(q[i], k[j]))
                 for j in keys]
            top = max(s)
            w = [mp.exp(x - top) for x in s]
            total = mp.fsum(w)
            for j, wj in zip(keys, w):
                A[i, j] = wj / total
        return A
