"""The supercritical regime: all mass on the nearest key, except for rare near-ties.

Claim (docs/claims.md section 1, "Supercritical"; [P] W_max -> 1 when gamma_n -> infinity; [D] the
rates below; verified here: K_3 = 1/2, K_8 = 3.67830, K_16 = 10.50967 (docs/claims.md [M]); the ratio
of ln 2 K_d / gamma to the exact Poisson-limit E[1 - W_max] (quadrature engine) tends to 1 like
1 + O(1/gamma): at gamma = 256 it is 1.0011 (d=3), 0.99885 (d=8), 0.9962 (d=16), so docs/claims.md's
"within 0.3% at gamma >= 256" holds at d = 3 and 8 but needs gamma ~ 330 at d = 16; the tail
against the exact d = 3 law of W_max (generalised Dickman), within 0.5% at gamma = 1000):

    E[1 - W_max] = ln 2 K / gamma + O(gamma^-2),   K = a C^(1/a) Gamma(2 - 1/a),
    P(1 - W_max > eps) ~ K ln((1 - eps)/eps) / gamma     (0 < eps < 1/2 fixed, gamma -> inf),
    with a, C the local exponent and small-ball constant of the key law (sphere: a = (d-1)/2,
    C = C_d, K = K_d).

Derivation: at large gamma, 1 - W_max = R/(1+R) is non-negligible only when the second-nearest
key nearly ties the nearest: R ~ exp(-g p Gamma_1^(p-1) Delta) with Delta = Gamma_2 - Gamma_1 ~
Exp(1) independent of Gamma_1 ~ Exp(1); integrating 1/(1 + e^z) over z gives ln 2, and
E[Gamma_1^(1-p)] / (g p) = Gamma(2-p) C^p / (gamma p) = K / gamma.

Domain: a > 1/2 (so that Gamma(2 - 1/a) is finite), gamma > 0 (asymptotic in gamma).
Numerics: float64 values of 1 - W_max round to 0 in a large fraction of samples at large gamma
(docs/claims.md: 1% in float64, 12.5% in float32 at d=3, gamma=4): test R = sum over non-nearest keys of
e^(-beta(u_j - u_min)), which the streaming kernel returns, not 1 - W_max.
"""

from __future__ import annotations

from mpmath import mp

from attnspec.oracles.scaling_limits import critical_poisson as CP
from attnspec.oracles.scaling_limits.key_laws import DeficitLaw, UniformSphere


def near_tie_constant(d: int | None = None, *, law: DeficitLaw | None = None, dps: int = 30):
    """K = a C^(1/a) Gamma(2 - 1/a) (K_d for the uniform sphere)."""
    with mp.workdps(dps):
        law = law or UniformSphere(d)
        a, C = law.local_exponent(), law.small_ball_constant()
        return a * C ** (1 / a) * mp.gamma(2 - 1 / a)


def expected_one_minus_wmax_asymptotic(gamma, d: int | None = None, *, law=None, dps: int = 30):
    """ln 2 K / gamma (leading order of E[1 - W_max] as gamma -> infinity)."""
    with mp.workdps(dps):
        return mp.log(2) * near_tie_constant(d, law=law, dps=dps) / mp.mpf(gamma)


def tail_one_minus_wmax_asymptotic(eps, gamma, d: int | None = None, *, law=None, dps: int = 30):
    """K ln((1 - eps)/eps) / gamma: leading order of P(1 - W_max > eps) = P(R > eps/(1-eps))."""
    with mp.workdps(dps):
        e = mp.mpf(eps)
        return near_tie_constant(d, law=law, dps=dps) * mp.log((1 - e) / e) / mp.mpf(gamma)


def expected_one_minus_wmax(gamma, d: int | None = None, *, law=None, backend: str = "mpmath",
                            dps: int = 20):
    """Exact E[1 - W_max] in the critical Poisson limit at this gamma (1 - expected_wmax)."""
    v = CP.expected_wmax(d, gamma, law=law, backend=backend, dps=dps)
    if backend == "numpy":
        return 1.0 - v
    with mp.workdps(dps):
        return 1 - v


def tail_one_minus_wmax_d3(eps, gamma, dps: int = 30):
    """Exact limit P(1 - W_max > eps) = P(R > eps/(1-eps)) at d = 3 (R ~ GD(1/(2 gamma)))."""
    from attnspec.oracles.scaling_limits.wmax_d3 import dickman_cdf
    with mp.workdps(dps):
        e = mp.mpf(eps)
        return 1 - dickman_cdf(e / (1 - e), 1 / (2 * mp.mpf(gamma)), dps)
