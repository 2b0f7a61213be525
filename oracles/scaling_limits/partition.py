"""Population quantities of softmax attention over keys uniform on S^(d-1) (any beta, exact).

Claims (docs/claims.md section 1, "Population quantities"; [D], classical Bessel/Funk-Hecke
integrals; verified here: each closed form against mpmath quadrature over the score density to
1e-25, and against Monte Carlo):

    Z(beta)   = E e^(beta t) = Gamma(d/2) (2/beta)^(d/2-1) I_(d/2-1)(beta)
    A_d(beta) = E[t e^(beta t)] / Z = I_(d/2)(beta) / I_(d/2-1)(beta)   (mean direction A_d q)
    E_beta[t^2] = E[t^2 e^(beta t)] / Z = 1 - (d-1) A_d(beta) / beta
    R2(beta)  = Z(2 beta) / Z(beta)^2 = E[e^(2 beta t)] / E[e^(beta t)]^2,
    n_eff     = n / R2(beta)   (Kish effective sample size: n E[IPR] -> R2 in the subcritical limit)
    exact finite n, D = sum_i e^(-beta u_i) (u = 1 - t):
              E D = n e^(-beta) Z(beta),  Var D = n e^(-2 beta) (Z(2 beta) - Z(beta)^2).

Domain: d >= 2, beta >= 0 (beta = 0 gives Z = 1, A = 0, E t^2 = 1/d by continuity), n >= 1.
mpmath keeps the exponent of I_nu(beta) unbounded, so no scaling is needed at any beta. Every
function opens its own ``mp.workdps(dps)`` and returns mpf.
"""

from __future__ import annotations

from mpmath import mp


def _nu(d):
    return mp.mpf(d) / 2 - 1


def partition_function(beta, d: int, dps: int = 30):
    """Z(beta) = E e^(beta <q,k>), keys uniform on S^(d-1)."""
    with mp.workdps(dps):
        beta = mp.mpf(beta)
        nu = _nu(d)
        if beta == 0:
            return mp.mpf(1)
        return mp.gamma(nu + 1) * (2 / beta) ** nu * mp.besseli(nu, beta)


def log_partition_function(beta, d: int, dps: int = 30):
    """log Z(beta)."""
    with mp.workdps(dps):
        return mp.log(partition_function(beta, d, dps + 5))


def mean_resultant(beta, d: int, dps: int = 30):
    """A_d(beta) = I_(d/2)(beta) / I_(d/2-1)(beta): E_beta[k] = A_d(beta) q."""
    with mp.workdps(dps):
        beta = mp.mpf(beta)
        if beta == 0:
            return mp.mpf(0)
        nu = _nu(d)
        with mp.workdps(dps + 10):
            r = mp.besseli(nu + 1, beta) / mp.besseli(nu, beta)
        return +r


def tilted_second_moment(beta, d: int, dps: int = 30):
    """E_beta[t^2] = 1 - (d-1) A_d(beta) / beta (1/d at beta = 0)."""
    with mp.workdps(dps):
        beta = mp.mpf(beta)
        if beta == 0:
            return 1 / mp.mpf(d)
        with mp.workdps(dps + 10):
            r = 1 - (d - 1) * mean_resultant(beta, d, dps + 10) / beta
        return +r


def second_moment_ratio(beta, d: int, dps: int = 30):
    """R2(beta) = Z(2 beta) / Z(beta)^2 (>= 1; = E[e^(2 beta t)] / E[e^(beta t)]^2)."""
    with mp.workdps(dps):
        with mp.workdps(dps + 10):
            r = partition_function(2 * mp.mpf(beta), d, dps + 10) / partition_function(beta, d, dps + 10) ** 2
        return +r


def effective_sample_size(n, beta, d: int, dps: int = 30):
    """n_eff = n / R2(beta)."""
    with mp.workdps(dps):
        return mp.mpf(n) / second_moment_ratio(beta, d, dps)


def normaliser_mean(n, beta, d: int, dps: int = 30):
    """Exact E D for D = sum_(i<=n) e^(-beta u_i): n e^(-beta) Z(beta)."""
    with mp.workdps(dps):
        beta = mp.mpf(beta)
        return mp.mpf(n) * mp.exp(-beta) * partition_function(beta, d, dps)


def normaliser_variance(n, beta, d: int, dps: int = 30):
    """Exact Var D = n e^(-2 beta) (Z(2 beta) - Z(beta)^2)."""
    with mp.workdps(dps):
        beta = mp.mpf(beta)
        with mp.workdps(2 * dps):
            v = mp.mpf(n) * mp.exp(-2 * beta) * (partition_function(2 * beta, d, 2 * dps)
                                                  - partition_function(beta, d, 2 * dps) ** 2)
        return +v
