"""Exact law of the maximal weight at the critical scale for d = 3 (keys on S^2).

Claim (docs/claims.md section 1, "Critical", d = 3; [D]; verified here: the Laplace transform of the
CDF (closed form plus delay equation) equals exp(-theta Ein(s)) to 1e-15; the delay equation on
(1, 3] equals Gil-Pelaez inversion of the characteristic function to 1e-10 (long profile); the
density is the derivative of the CDF; the law matches the limit sampler (binomial tests at
4.89 sigma); E W_max matches docs/claims.md [M] 0.72948821465467 (gamma = 1) and 0.500713
(gamma = 0.4), and the generic quadrature engine to 1e-12 (moments 1-3)):

    d = 3: a = p = 1, C_3 = 1/2, g = 2 gamma, beta = gamma n. The energies form a Poisson process
    of rate 1/(2 gamma) on [0, inf); given the smallest, the gaps to it form an independent
    Poisson process of the same rate, so R = sum_(k>=2) e^(-(x_k - x_1)) does not depend on x_1:

    R ~ generalised Dickman GD(theta), theta = 1/(2 gamma):  E e^(-s R) = exp(-theta Ein(s)),
        Ein(s) = int_0^s (1 - e^(-t))/t dt;
        density f(r) = e^(-Euler theta) r^(theta - 1) / Gamma(theta) on (0, 1],
        CDF F(r) = e^(-Euler theta) r^theta / Gamma(theta + 1) on [0, 1],
        and r f(r) = theta (F(r) - F(r - 1)) for r > 1 (delay equation), i.e.
        F(r) = r^theta [k^(-theta) F(k) - theta int_k^r y^(-theta-1) F(y - 1) dy] on [k, k+1];
        and, for any r, Gil-Pelaez inversion of the characteristic function exp(-theta Ein(-i t));
    W_max = 1/(1 + R):  P(W_max <= w) = 1 - F(1/w - 1),
        E W_max^k = int_0^inf u^(k-1)/Gamma(k) exp(-u - Ein(u)/(2 gamma)) du.

Domain: gamma > 0, 0 < w <= 1, k > 0. mpmath at ``dps`` digits (set inside each function).
"""

from __future__ import annotations

from mpmath import mp


def ein(s):
    """Ein(s) = int_0^s (1 - e^(-t))/t dt = E1(s) + log s + Euler (s > 0), entire. Returns mpf/mpc."""
    s = mp.mpmathify(s)
    if abs(s) < 4:
        return s * mp.hyp2f2(1, 1, 2, 2, -s)
    if isinstance(s, mp.mpf) or s.imag == 0:
        s = mp.re(s)
        return mp.e1(s) + mp.log(s) + mp.euler
    return mp.e1(s) + mp.log(s) + mp.euler


def expected_wmax_d3(gamma, moment=1, dps: int = 30):
    """E W_max^moment = int_0^inf u^(k-1)/Gamma(k) exp(-u - Ein(u)/(2 gamma)) du (critical limit, d = 3)."""
    with mp.workdps(dps):
        g, k = mp.mpf(gamma), mp.mpf(moment)
        with mp.workdps(dps + 10):
            f = lambda u: u ** (k - 1) * mp.exp(-u - ein(u) / (2 * g))
            v = mp.quad(f, [0, 1, 4, 16, 64, mp.inf]) / mp.gamma(k)
        return +v


def laplace_R_d3(s, gamma, dps: int = 30):
    """E e^(-s R) = exp(-Ein(s)/(2 gamma))."""
    with mp.workdps(dps):
        return mp.exp(-ein(mp.mpf(s)) / (2 * mp.mpf(gamma)))


def dickman_cdf_unit(r, theta, dps: int = 30):
    """F(r) = e^(-Euler theta) r^theta / Gamma(theta + 1) for 0 <= r <= 1 (generalised Dickman)."""
    with mp.workdps(dps):
        r, th = mp.mpf(r), mp.mpf(theta)
        if r <= 0:
            return mp.mpf(0)
        if r > 1:
            raise ValueError("closed form only on [0, 1]")
        return mp.exp(-mp.euler * th) * r ** th / mp.gamma(th + 1)


def dickman_cdf_delay(r, theta, dps: int = 30):
    """F(r) for 0 <= r <= 3 by the delay equation (nested quadrature; exact up to quadrature error)."""
    with mp.workdps(dps):
        r, th = mp.mpf(r), mp.mpf(theta)
        if r <= 1:
            return dickman_cdf_unit(r, th, dps)
        if r > 3:
            raise ValueError("delay recursion implemented on [0, 3]; use dickman_cdf_gil_pelaez beyond")
        with mp.workdps(dps + 10):
            c = mp.exp(-mp.euler * th) / mp.gamma(th + 1)

            def F12(x):  # on [1, 2]
                # int_1^x y^(-th-1) c (y-1)^th dy
                I = mp.quad(lambda y: y ** (-th - 1) * c * (y - 1) ** th, [1, x])
                return x ** th * (c - th * I)
            if r <= 2:
                v = F12(r)
            else:
                F2 = F12(mp.mpf(2))
                I = mp.quad(lambda y: y ** (-th - 1) * F12(y - 1), [2, r])
                v = r ** th * (F2 * mp.mpf(2) ** (-th) - th * I)
        return +v


def dickman_cdf_gil_pelaez(r, theta, dps: int = 20):
    """F(r) = 1/2 - (1/pi) int_0^inf Im[e^(-i t r) phi(t)] / t dt, phi(t) = exp(-theta Ein(-i t))
    (Gil-Pelaez inversion; mp.quadosc). Any r > 0; a few seconds per value at 20 digits.

    (Talbot inversion of the Laplace transform does not apply: Ein grows like e^|s|/|s| in the
    left half-plane, through which the Talbot contour runs.)"""
    with mp.workdps(dps):
        r, th = mp.mpf(r), mp.mpf(theta)
        if r <= 0:
            return mp.mpf(0)
        with mp.workdps(dps + 10):
            def f(t):
                phi = mp.exp(-th * ein(mp.mpc(0, -t)))
                return mp.im(mp.exp(mp.mpc(0, -t * r)) * phi) / t
            v = mp.mpf(1) / 2 - mp.quadosc(f, [0, mp.inf], omega=r) / mp.pi
        return +v


def dickman_cdf(r, theta, dps: int = 30):
    """CDF of GD(theta): closed form on [0,1], delay equation on (1, 3], Gil-Pelaez beyond."""
    r = mp.mpf(r)
    if r <= 1:
        return dickman_cdf_unit(r, theta, dps)
    if r <= 3:
        return dickman_cdf_delay(r, theta, dps)
    return dickman_cdf_gil_pelaez(r, theta, dps)


def wmax_cdf_d3(w, gamma, dps: int = 30):
    """P(W_max <= w) = 1 - F(1/w - 1), F the GD(1/(2 gamma)) CDF (critical limit, d = 3)."""
    with mp.workdps(dps):
        w = mp.mpf(w)
        if w >= 1:
            return mp.mpf(1)
        if w <= 0:
            return mp.mpf(0)
        th = 1 / (2 * mp.mpf(gamma))
        return 1 - dickman_cdf(1 / w - 1, th, dps)


def wmax_pdf_d3(w, gamma, dps: int = 30):
    """Density of W_max for 1/2 < w < 1: f_R(1/w - 1) / w^2 with f_R(r) = e^(-Euler theta) r^(theta-1)/Gamma(theta)."""
    with mp.workdps(dps):
        w = mp.mpf(w)
        if not mp.mpf(1) / 2 < w < 1:
            raise ValueError("closed-form density on (1/2, 1)")
        th = 1 / (2 * mp.mpf(gamma))
        r = 1 / w - 1
        return mp.exp(-mp.euler * th) * r ** (th - 1) / mp.gamma(th) / (w * w)


def prob_wmax_is_one_half_or_more_d3(gamma, dps: int = 30):
    """P(W_max >= 1/2) = F(1) = e^(-Euler theta)/Gamma(theta + 1), theta = 1/(2 gamma)."""
    with mp.workdps(dps):
        return dickman_cdf_unit(1, 1 / (2 * mp.mpf(gamma)), dps)
