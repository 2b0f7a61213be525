"""The two-token equilibrium of the prompt model (USA): a scalar root.

Claim [D, docs/claims.md section 3]: with n = 2 tokens on a great circle, prompts at angles
+theta0 and -theta0 and tokens at +phi and -phi, the USA prompt flow (prompt weight n lambda,
so lambda after the 1/n) moves phi by

    dphi/dt = lambda sin(theta0 - phi) e^(beta cos(theta0 - phi)) - 1/2 sin(2 phi) e^(beta cos 2 phi),

so the symmetric equilibria are the roots phi* in (0, theta0) of
1/2 sin 2phi e^(beta cos 2phi) = lambda sin(theta0 - phi) e^(beta cos(theta0 - phi)), and the tokens'
distance there is |x1 - x2| = 2 sin phi*. (beta, lambda, theta0) = (1, 0.5, 0.6) gives
0.397338661590122 (claims.md; re-derived and re-computed in tests/oracles/mean_field).
Domain: beta >= 0, lambda > 0, 0 < theta0 < pi/2 (then g(0) < 0 < g(theta0), so a root exists).
The stable root the flow reaches from phi(0) in [0, theta0] is the smallest root when dphi/dt > 0
below it; ``equilibrium_angle`` returns it, found by bracketing on a fine grid and refined by
mpmath's bisection-safeguarded solver at ``dps`` digits.
"""

from __future__ import annotations

import mpmath as mp


def phi_rate(phi, beta, lam, theta0):
    """dphi/dt of the symmetric two-token USA prompt flow (mpmath)."""
    return (lam * mp.sin(theta0 - phi) * mp.exp(beta * mp.cos(theta0 - phi))
            - mp.sin(2 * phi) * mp.exp(beta * mp.cos(2 * phi)) / 2)


def equilibrium_angle(beta: float, lam: float, theta0: float, dps: int = 40, grid: int = 256):
    """phi*: the smallest root of phi_rate in (0, theta0) (mpf at ``dps`` digits)."""
    if not 0 < theta0 < mp.pi / 2:
        raise ValueError("theta0 must lie in (0, pi/2)")
    with mp.workdps(dps):
        b, l, t0 = mp.mpf(beta), mp.mpf(lam), mp.mpf(theta0)
        lo = mp.mpf(0)
        f_lo = phi_rate(lo, b, l, t0)
        for k in range(1, grid + 1):
            hi = t0 * k / grid
            f_hi = phi_rate(hi, b, l, t0)
            if f_lo == 0:
                return +lo
            if (f_lo > 0) != (f_hi > 0):
                return +mp.findroot(lambda p: phi_rate(p, b, l, t0), (lo, hi), solver="anderson")
            lo, f_lo = hi, f_hi
    raise ArithmeticError("no sign change of dphi/dt on (0, theta0]")


def equilibrium_distance(beta: float, lam: float, theta0: float, dps: int = 40):
    """|x1 - x2| = 2 sin phi* at the two-token equilibrium (mpf)."""
    with mp.workdps(dps):
        return +(2 * mp.sin(equilibrium_angle(beta, lam, theta0, dps)))
