"""The subcritical regime: attention output as a noisy local average (law of large numbers + CLT).

Claim (docs/claims.md section 1, "Subcritical"; [P] a local average with a deterministic bias and
Gaussian fluctuations; [D] the formulas; verified here: each leading-order formula against the
exact finite-n oracle (finite_n.output_moments), whose ratio to it tends to 1 as n_eff grows, and
against Monte Carlo from the streaming kernel with full key vectors):

    keys uniform on S^(d-1), identity values, beta n^(-2/(d-1)) -> 0 (n_eff = n / R2(beta) -> inf),
    D = sum_i e^(-beta u_i), y = sum_i w_i k_i:

    normaliser LLN:     Var(D / E D) = (R2 - 1)/n                       (exact)
    mean along q:       E<q,y> = A_d(beta) - (R2/n)(A_d(2 beta) - A_d(beta)) + O(n^-2)
    deterministic bias: (A_d(beta) - 1) q ~ -(d-1)/(2 beta) q
    fluctuations, leading order (delta method), uncorrelated:
        each of the d-1 tangent coordinates: (R2/n) A_d(2 beta) / (2 beta)  ~ 1/(2 beta n_eff)
        along q: (R2/n)[E_(2 beta) t^2 - 2 A_d(beta) A_d(2 beta) + A_d(beta)^2]
                 ~ (d^2 - 1) / (16 beta^2 n_eff).
    At large d trust second-order statistics only when n_eff >> 10 * 2^((d-1)/2) (docs/claims.md [M]).

Domain: d >= 2, beta > 0, n >= 1 (the expansions are asymptotic in n_eff). mpmath at ``dps``.
"""

from __future__ import annotations

from mpmath import mp

from attnspec.oracles.scaling_limits.partition import mean_resultant, second_moment_ratio, tilted_second_moment


def normaliser_relative_variance(n, beta, d: int, dps: int = 30):
    """Var(D / E D) = (R2(beta) - 1)/n (exact)."""
    with mp.workdps(dps):
        return (second_moment_ratio(beta, d, dps + 10) - 1) / mp.mpf(n)


def deterministic_bias(beta, d: int, dps: int = 30):
    """A_d(beta) - 1: the population output is A_d(beta) q."""
    with mp.workdps(dps):
        with mp.workdps(dps + 10):
            v = mean_resultant(beta, d, dps + 10) - 1
        return +v


def deterministic_bias_asymptotic(beta, d: int, dps: int = 30):
    """-(d-1)/(2 beta)."""
    with mp.workdps(dps):
        return -(mp.mpf(d) - 1) / (2 * mp.mpf(beta))


def mean_output_along_query(n, beta, d: int, dps: int = 30):
    """A_d(beta) - (R2/n)(A_d(2 beta) - A_d(beta)): E<q,y> to order 1/n."""
    with mp.workdps(dps):
        with mp.workdps(dps + 10):
            b = mp.mpf(beta)
            A1, A2 = mean_resultant(b, d, dps + 10), mean_resultant(2 * b, d, dps + 10)
            v = A1 - second_moment_ratio(b, d, dps + 10) / mp.mpf(n) * (A2 - A1)
        return +v


def tangent_variance(n, beta, d: int, dps: int = 30):
    """(R2/n) A_d(2 beta)/(2 beta): variance of each tangent coordinate of y, leading order."""
    with mp.workdps(dps):
        b = mp.mpf(beta)
        return second_moment_ratio(b, d, dps) / mp.mpf(n) * mean_resultant(2 * b, d, dps) / (2 * b)


def tangent_variance_asymptotic(n, beta, d: int, dps: int = 30):
    """1/(2 beta n_eff)."""
    with mp.workdps(dps):
        b = mp.mpf(beta)
        return second_moment_ratio(b, d, dps) / (2 * b * mp.mpf(n))


def along_query_variance(n, beta, d: int, dps: int = 30):
    """(R2/n)[E_(2beta) t^2 - 2 A(beta) A(2beta) + A(beta)^2]: variance of <q,y>, leading order."""
    with mp.workdps(dps):
        with mp.workdps(2 * dps):
            b = mp.mpf(beta)
            A1, A2 = mean_resultant(b, d, 2 * dps), mean_resultant(2 * b, d, 2 * dps)
            v = second_moment_ratio(b, d, 2 * dps) / mp.mpf(n) * (
                tilted_second_moment(2 * b, d, 2 * dps) - 2 * A1 * A2 + A1 * A1)
        return +v


def along_query_variance_asymptotic(n, beta, d: int, dps: int = 30):
    """(d^2 - 1)/(16 beta^2 n_eff)."""
    with mp.workdps(dps):
        b = mp.mpf(beta)
        return (mp.mpf(d) ** 2 - 1) * second_moment_ratio(b, d, dps) / (16 * b * b * mp.mpf(n))


def second_order_trust_threshold(d: int) -> float:
    """n_eff above which second-order statistics are trustworthy at large d: 10 * 2^((d-1)/2)
    (docs/claims.md [M]; a rule of thumb, not a bound)."""
    return 10.0 * 2.0 ** ((d - 1) / 2)
