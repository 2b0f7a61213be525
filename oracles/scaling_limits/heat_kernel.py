"""The subcritical heat-kernel action: attention as a smoothing operator on value functions.

Claim (docs/claims.md section 1, "Subcritical", heat equation; [D] from Funk-Hecke; verified here: the
eigenvalue against direct quadrature of e^(beta t) times the Gegenbauer polynomial over the score
density to 1e-25; the 1/beta expansion to order beta^-2 (the remainder times beta^3 stays
bounded); the tangential drift for von Mises-Fisher keys, exact closed form against quadrature
and against (1/beta) grad log rho; against Monte Carlo from the streaming kernel with zonal
values):

    For keys with density rho on S^(d-1) and values phi(k), as n -> infinity at fixed beta the
    output tends to K_beta phi(q) = E[e^(beta <q,k>) phi(k)] / E[e^(beta <q,k>)] (uniform rho).
    On spherical harmonics of degree l (Funk-Hecke) K_beta Y_l = lambda_l(beta) Y_l with
        lambda_l(beta) = I_(l + d/2 - 1)(beta) / I_(d/2 - 1)(beta)     (lambda_1 = A_d),
    so, with the Laplace-Beltrami eigenvalue -l(l + d - 2),
        K_beta phi = phi + Lap phi / (2 beta) + (Lap^2 phi + 2 Lap phi) / (8 beta^2) + O(beta^-3)
    (a forward heat step of time 1/(2 beta) on values).
    On tokens (identity values, key density rho), the tangential output is
        (1/beta) grad log rho(q) + O(beta^-2);
    for rho = vMF(mu, kappa) it is exactly A_d(|beta q + kappa mu|) kappa P_q mu / |beta q + kappa mu|.
    Moving tokens along it, d rho/dt = -div(rho v) = -(1/beta) Lap rho + O(beta^-2): a backward heat
    equation; to first order in a perturbation rho = 1 + eps Y_l the exact growth rate is
        lambda_l(beta) l (l + d - 2) / beta     (tangential part of E[e^(beta<q,k>) k Y_l(k)] is
        (1/beta) grad_q of Z lambda_l Y_l(q)); leading order l(l+d-2)/beta.

Domain: d >= 2, l >= 0 integer, beta > 0; kappa >= 0, 0 <= theta <= pi. mpmath at ``dps`` digits.
"""

from __future__ import annotations

from mpmath import mp

from attnspec.oracles.scaling_limits.partition import mean_resultant
from attnspec.oracles.scaling_limits.score_law import score_density


def heat_eigenvalue(l: int, beta, d: int, dps: int = 30):
    """lambda_l(beta) = I_(l+d/2-1)(beta) / I_(d/2-1)(beta)."""
    with mp.workdps(dps):
        nu = mp.mpf(d) / 2 - 1
        with mp.workdps(dps + 10):
            v = mp.besseli(nu + l, mp.mpf(beta)) / mp.besseli(nu, mp.mpf(beta))
        return +v


def heat_eigenvalue_quadrature(l: int, beta, d: int, dps: int = 30):
    """The same eigenvalue by quadrature: int e^(beta t) C_l(t)/C_l(1) f(t) dt / int e^(beta t) f(t) dt,
    C_l the Gegenbauer polynomial of index d/2 - 1 (Legendre for d = 3; Chebyshev for d = 2)."""
    with mp.workdps(dps):
        b = mp.mpf(beta)
        with mp.workdps(dps + 15):
            lam = mp.mpf(d) / 2 - 1
            if d == 2:
                P = lambda t: mp.chebyt(l, t)
            else:
                c1 = mp.gegenbauer(l, lam, 1)
                P = lambda t: mp.gegenbauer(l, lam, t) / c1
            f = lambda t: score_density(t, d, dps + 15) * mp.exp(b * (t - 1))
            pts = [-1, 0, 1 - 10 / b if b > 20 else mp.mpf(1) / 2, 1 - 1 / b if b > 2 else mp.mpf(3) / 4, 1]
            num = mp.quad(lambda t: f(t) * P(t), pts)
            den = mp.quad(f, pts)
            v = num / den
        return +v


def heat_eigenvalue_expansion(l: int, beta, d: int, order: int = 2, dps: int = 30):
    """1 - L/(2 beta) + (L^2 - 2L)/(8 beta^2), L = l(l+d-2) (truncated after ``order`` terms)."""
    with mp.workdps(dps):
        L = mp.mpf(l) * (l + d - 2)
        b = mp.mpf(beta)
        terms = [mp.mpf(1), -L / (2 * b), (L * L - 2 * L) / (8 * b * b)]
        return mp.fsum(terms[: order + 1])


def laplacian_eigenvalue(l: int, d: int) -> int:
    """Laplace-Beltrami eigenvalue -l(l+d-2) of degree-l harmonics on S^(d-1)."""
    return -l * (l + d - 2)


def vmf_tangential_drift(beta, kappa, theta, d: int, dps: int = 30):
    """Exact tangential output (component along P_q mu / |P_q mu|) for infinitely many keys
    vMF(mu, kappa), query at angle theta from mu: A_d(|v|) kappa sin(theta) / |v|, v = beta q + kappa mu."""
    with mp.workdps(dps):
        b, k, th = mp.mpf(beta), mp.mpf(kappa), mp.mpf(theta)
        with mp.workdps(dps + 10):
            nv = mp.sqrt(b * b + k * k + 2 * b * k * mp.cos(th))
            v = mean_resultant(nv, d, dps + 10) * k * mp.sin(th) / nv
        return +v


def vmf_tangential_drift_quadrature(beta, kappa, theta, d: int, dps: int = 30):
    """The same drift by one-dimensional quadrature over the score t = <q,k> (independent check):
    E[e^(beta t) sqrt(1-t^2) <e, mu_perp>] / E[e^(beta t)] with the tangent direction e averaged in
    closed form (0F1 functions)."""
    with mp.workdps(dps):
        b, k, th = mp.mpf(beta), mp.mpf(kappa), mp.mpf(theta)
        with mp.workdps(dps + 15):
            c, s = mp.cos(th), mp.sin(th)
            h = mp.mpf(d - 1) / 2

            def common(t):
                return score_density(t, d, dps + 15) * mp.exp((b + k * c) * (t - 1))

            def num(t):
                x = k * s * mp.sqrt(1 - t * t)
                # E_e[e_1 exp(x e_1)] on S^(d-2) = x/(d-1) 0F1(; (d+1)/2; x^2/4)
                return common(t) * mp.sqrt(1 - t * t) * x / (d - 1) * mp.hyp0f1(h + 1, x * x / 4)

            def den(t):
                x = k * s * mp.sqrt(1 - t * t)
                return common(t) * mp.hyp0f1(h, x * x / 4)
            bb = b + k * c
            pts = [-1, 0, 1 - 10 / bb if bb > 20 else mp.mpf(1) / 2, 1 - 1 / bb if bb > 2 else mp.mpf(3) / 4, 1]
            v = mp.quad(num, pts) / mp.quad(den, pts)
        return +v


def gradient_log_density_drift(beta, kappa, theta, d: int, dps: int = 30):
    """Leading order (1/beta) |grad log rho(q)| = kappa sin(theta) / beta for vMF keys."""
    with mp.workdps(dps):
        return mp.mpf(kappa) * mp.sin(mp.mpf(theta)) / mp.mpf(beta)


def backward_heat_rate(l: int, beta, d: int, dps: int = 30):
    """Exact first-order growth rate of a degree-l density perturbation under the token flow:
    lambda_l(beta) l(l+d-2)/beta."""
    with mp.workdps(dps):
        return heat_eigenvalue(l, beta, d, dps) * l * (l + d - 2) / mp.mpf(beta)


def backward_heat_rate_leading(l: int, beta, d: int, dps: int = 30):
    """Leading-order rate l(l+d-2)/beta of the backward heat equation d rho/dt = -(1/beta) Lap rho."""
    with mp.workdps(dps):
        return mp.mpf(l) * (l + d - 2) / mp.mpf(beta)
