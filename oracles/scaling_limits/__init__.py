"""Limit laws of softmax attention over long random contexts (Bruno, Chen, Lin, Polyanskiy, Rigollet 2026).

Oracles for attention of one unit query over n i.i.d. keys on the sphere (docs/claims.md section 1),
where no brute-force reference is affordable at the context lengths that matter. One concept per
module; each function's docstring states its claim, provenance tag, what was verified, its domain
and what it returns. docs/scaling-limits.md collects the formulas and the measured accuracy.

    score_law        law of t = <q,k>: density, exact CDF, quantile, small-ball constant C_d
    partition        Z(beta), A_d(beta), E_beta t^2, R2, n_eff, exact normaliser mean/variance
    subcritical      mean output and its bias, fluctuation variances (tangent, along q)
    heat_kernel      Funk-Hecke eigenvalues, their 1/beta expansion, vMF drift, backward-heat rate
    critical_poisson the Poisson limit: E S, Var S, Laplace exponent, E W_max^k, E IPR, Campbell
                     moments, output moments, gamma at E W_max = 1/2, Poisson-Dirichlet (Gaussian keys)
    wmax_d3          exact d = 3 law of W_max (generalised Dickman)
    limit_sampler    exact sampler of the critical limit (numpy)
    finite_n         exact finite-n E W_max^k, E IPR, E sum w^m f, pair sums, output moments
    supercritical    K_d, E[1 - W_max] ~ ln2 K_d/gamma, its tail
    key_laws         uniform sphere, subsphere, von Mises-Fisher, Gaussian scores (local exponents)
    vectorized       float64 twins for tests that need many values
    functionals      the quadrature engine behind critical_poisson and finite_n (no claims)

Imports neither torch nor attnspec.kernels.
"""

from attnspec.oracles.scaling_limits import (critical_poisson, finite_n, functionals, heat_kernel, key_laws, limit_sampler,
               partition, score_law, subcritical, supercritical, vectorized, wmax_d3)

__all__ = [
    "critical_poisson", "finite_n", "functionals", "heat_kernel", "key_laws", "limit_sampler",
    "partition", "score_law", "subcritical", "supercritical", "vectorized", "wmax_d3",
]
