"""Oracles of paper 4, fast-slow coupled attention (Gao 2026; docs/claims.md section 4).

The master-equation equilibrium that the fast-slow theory says the fast variable tracks, the
Markov-kernel reading of a row-stochastic attention matrix, the layer's FLOP formulas and read
sets, and the instruments that measure the Tikhonov tracking claims. docs/fast-slow.md has the
formulas, the provenance and the measured agreement. One concept per module:

    master_equation  p_st(y) of a rate matrix Q(y) (null space of Q^T, normalised), d p_st/dy,
                     the first-order corrector psi (mpmath)
    markov_chain     stationary law and Dobrushin ergodicity coefficient of a row-stochastic
                     matrix; the exact softmax attention matrix of float inputs (mpmath)
    two_state        the claims card's two-state example and its closed forms (mpmath, float64)
    tikhonov         RK4 integration of eps dx/dt = Q^T x, dy/dt = g, the initial-layer width,
                     tracking error against p_st and p_st + eps psi, log-log slopes
    block_pooled     the discrete block-pooled analogue (eps = 1/P) and its predicted error psi_d/P
    flops            FLOPs of each path and the stated ratios (exact rationals)
    read_rule        the input tokens each read rule lets token t's slow path see
    pooling          exact block means and the rounding bound of a float pooling

Imports neither torch nor attnspec.kernels.
"""
