"""Key laws, through the law of the score deficit u = (max score) - <q, k>, and their local exponent.

Claim (docs/claims.md section 1, "General key laws"; [D]; verified here: each density integrates to
1 by quadrature, the small-ball constant C is the limit of P(u <= r) / r^a computed from the
exact law, the critical Poisson limit built from (a, C) matches the exact finite-n oracle at
large n, and for Gaussian keys the exact finite-n oracle moves (logarithmically slowly) towards
Poisson-Dirichlet PD(1/gamma, 0)):

    if P(u <= r) ~ C r^a as r -> 0 (equivalently P(|k - q| <= rho) ~ C 2^(-a) rho^(2a)), the
    critical scale is beta_n = gamma n^(1/a) and the energies beta u_i of the nearest keys
    converge to a Poisson process with mean measure c x^a, c = C gamma^(-a).

    * uniform on S^(d-1):   a = (d-1)/2, C = C_d (score_law.py);
    * von Mises-Fisher(mu, kappa), query at angle theta from mu: a = (d-1)/2 and
      C = C_d e^(kappa cos theta) / Z_d(kappa) (the key density at q relative to uniform);
    * uniform on a great subsphere S^(m-1) at angle theta from q: a = (m-1)/2 whatever the
      ambient d, C = C_m (cos theta)^(-a) (scores are cos theta times uniform-S^(m-1) scores);
    * unnormalised Gaussian keys N(0, sigma^2 I): unbounded scores, Gumbel domain; no power law:
      beta_n = gamma sqrt(2 log n) / sigma and the weights tend to PD(1/gamma, 0) (critical_poisson.py).

A law here is a small object used by the exact finite-n and Poisson-limit engines: it gives the
density and CDF of u on either backend (mpmath object arrays or float64), its support, whether a
support end behaves like a power (for the quadrature), the local exponent ``a`` and constant
``C`` (mpf, computed at the caller's precision).

Domain: as stated per class; d >= 2, m >= 2, kappa >= 0, 0 <= theta < pi/2, sigma > 0.
"""

from __future__ import annotations

import math

import numpy as np
from mpmath import mp
from scipy import integrate as spi
from scipy import special as sps

from attnspec.oracles.scaling_limits._numerics import MP, NP
from attnspec.oracles.scaling_limits.score_law import small_ball_constant
from attnspec.oracles.scaling_limits.partition import partition_function


def _obj(f, nin=1):
    return np.frompyfunc(f, nin, 1)


class DeficitLaw:
    """Law of the deficit u >= u_lo (weights e^(-beta u)). Subclasses define pdf/cdf."""

    u_lo: float = 0.0
    u_hi: float = 2.0
    lo_power: bool = True
    hi_power: bool = True
    bounded: bool = True

    def pdf_u(self, bk, u):  # pragma: no cover - interface
        raise NotImplementedError

    def cdf_u(self, bk, u):  # pragma: no cover - interface
        raise NotImplementedError

    def local_exponent(self):
        """a in P(u <= r) ~ C r^a (mpf at the working precision)."""
        raise NotImplementedError

    def small_ball_constant(self):
        """C in P(u <= r) ~ C r^a (mpf at the working precision)."""
        raise NotImplementedError

    def tilted_mass(self, beta: float) -> float:
        """E e^(-beta u) in float64 (used only to size quadrature ranges)."""
        x = np.linspace(self.u_lo, self.u_hi, 4001)
        y = np.exp(-beta * (x - self.u_lo)) * self.pdf_u(NP, x)
        return float(np.trapezoid(y, x)) * math.exp(-beta * self.u_lo)


class UniformSphere(DeficitLaw):
    """Keys uniform on S^(d-1): u/2 ~ Beta(a, a), a = (d-1)/2, density 2^(1-2a)(u(2-u))^(a-1)/B(a,a)."""

    def __init__(self, d: int):
        if d < 2:
            raise ValueError("d >= 2")
        self.d = d
        self.a_f = (d - 1) / 2.0
        self._lognorm_f = float(sps.betaln(self.a_f, self.a_f) + (2 * self.a_f - 1) * math.log(2))

    def __repr__(self):
        return f"UniformSphere(d={self.d})"

    def local_exponent(self):
        return (mp.mpf(self.d) - 1) / 2

    def small_ball_constant(self):
        return small_ball_constant(self.d, mp.dps)

    def pdf_u(self, bk, u):
        if bk is NP:
            u = np.asarray(u, float)
            inside = (u > 0) & (u < 2)
            uc = np.where(inside, u, 1.0)
            v = np.exp((self.a_f - 1) * np.log(uc * (2 - uc)) - self._lognorm_f)
            return np.where(inside, v, 0.0)
        a = (mp.mpf(self.d) - 1) / 2
        norm = mp.beta(a, a) * mp.mpf(2) ** (2 * a - 1)

        def f(x):
            if not 0 < x < 2:
                return mp.mpf(0)
            return (x * (2 - x)) ** (a - 1) / norm
        return _obj(f)(u)

    def cdf_u(self, bk, u):
        if bk is NP:
            u = np.clip(np.asarray(u, float), 0.0, 2.0)
            lower = sps.betainc(self.a_f, self.a_f, np.minimum(u, 1.0) / 2)
            upper = 1 - sps.betainc(self.a_f, self.a_f, np.clip(1 - u / 2, 0.0, 0.5))
            return np.where(u <= 1.0, lower, upper)
        a = (mp.mpf(self.d) - 1) / 2

        def F(x):
            if x <= 0:
                return mp.mpf(0)
            if x >= 2:
                return mp.mpf(1)
            if x <= 1:
                return mp.betainc(a, a, 0, x / 2, regularized=True)
            return 1 - mp.betainc(a, a, 0, 1 - x / 2, regularized=True)
        return _obj(F)(u)

    def tilted_mass(self, beta: float) -> float:
        nu = self.d / 2 - 1
        if beta == 0:
            return 1.0
        # e^-beta Z(beta) = Gamma(nu+1) (2/beta)^nu ive(nu, beta)
        return float(math.exp(sps.gammaln(nu + 1) + nu * math.log(2 / beta)) * sps.ive(nu, beta))


class Subsphere(DeficitLaw):
    """Keys uniform on a great subsphere S^(m-1); the query at angle theta from its span.

    Scores are cos(theta) t' with t' uniform-S^(m-1) scores, so u = cos(theta) u'."""

    def __init__(self, m: int, cos_theta: float = 1.0):
        if not 0 < cos_theta <= 1:
            raise ValueError("0 < cos_theta <= 1")
        self.m = m
        self.cos_theta = cos_theta
        self.base = UniformSphere(m)
        self.u_hi = 2.0 * cos_theta

    def __repr__(self):
        return f"Subsphere(m={self.m}, cos_theta={self.cos_theta})"

    def local_exponent(self):
        return self.base.local_exponent()

    def small_ball_constant(self):
        a = self.local_exponent()
        return self.base.small_ball_constant() * mp.mpf(self.cos_theta) ** (-a)

    def pdf_u(self, bk, u):
        c = self.cos_theta if bk is NP else mp.mpf(self.cos_theta)
        return self.base.pdf_u(bk, u / c) / c

    def cdf_u(self, bk, u):
        c = self.cos_theta if bk is NP else mp.mpf(self.cos_theta)
        return self.base.cdf_u(bk, u / c)

    def tilted_mass(self, beta: float) -> float:
        return self.base.tilted_mass(beta * self.cos_theta)


class VonMisesFisher(DeficitLaw):
    """Keys von Mises-Fisher(mu, kappa) on S^(d-1); the query q at angle theta from mu.

    Density of u = 1 - <q,k>: f_unif(u) e^(kappa cos(theta)(1-u)) 0F1(; (d-1)/2; x^2/4) / Z_d(kappa),
    x = kappa sin(theta) sqrt(u(2-u)), Z_d(kappa) = 0F1(; d/2; kappa^2/4) = E_unif e^(kappa <mu,k>).
    The CDF is computed by quadrature of the density (no closed form)."""

    def __init__(self, d: int, kappa: float, cos_theta: float = 1.0):
        self.d, self.kappa, self.cos_theta = d, float(kappa), float(cos_theta)
        self.sin_theta = math.sqrt(max(0.0, 1 - cos_theta * cos_theta))
        self.base = UniformSphere(d)

    def __repr__(self):
        return f"VonMisesFisher(d={self.d}, kappa={self.kappa}, cos_theta={self.cos_theta})"

    def local_exponent(self):
        return self.base.local_exponent()

    def small_ball_constant(self):
        k, c = mp.mpf(self.kappa), mp.mpf(self.cos_theta)
        return self.base.small_ball_constant() * mp.exp(k * c) / partition_function(k, self.d, mp.dps)

    def density_ratio_at_query(self):
        """rho(q) / rho_uniform = e^(kappa cos theta) / Z_d(kappa)."""
        k, c = mp.mpf(self.kappa), mp.mpf(self.cos_theta)
        return mp.exp(k * c) / partition_function(k, self.d, mp.dps)

    def _factor_np(self, u):
        u = np.clip(np.asarray(u, float), 0.0, 2.0)
        x = self.kappa * self.sin_theta * np.sqrt(u * (2 - u))
        logz = math.log(float(partition_function(self.kappa, self.d, 20)))
        return np.exp(self.kappa * self.cos_theta * (1 - u) - logz) * sps.hyp0f1((self.d - 1) / 2, x * x / 4)

    def pdf_u(self, bk, u):
        if bk is NP:
            return self.base.pdf_u(NP, u) * self._factor_np(u)
        k, c, s = mp.mpf(self.kappa), mp.mpf(self.cos_theta), mp.sqrt(1 - mp.mpf(self.cos_theta) ** 2)
        Z = partition_function(k, self.d, mp.dps)
        b = mp.mpf(self.d - 1) / 2

        def fac(x):
            if not 0 < x < 2:
                return mp.mpf(0)
            y = k * s * mp.sqrt(x * (2 - x))
            return mp.exp(k * c * (1 - x)) * mp.hyp0f1(b, y * y / 4) / Z
        return self.base.pdf_u(MP, u) * _obj(fac)(u)

    def cdf_u(self, bk, u):
        if bk is NP:
            u = np.asarray(u, float)
            a = self.base.a_f
            out = np.empty(u.shape)
            flat = u.reshape(-1)
            res = out.reshape(-1)
            for i, x in enumerate(flat):
                if x <= 0:
                    res[i] = 0.0
                elif x >= 2:
                    res[i] = 1.0
                else:
                    # substitute u = x s^(1/a)... use s = (u/x)^a scaling: integrate in v = u^a
                    g = lambda v: self.pdf_u(NP, np.array([v ** (1 / a)]))[0] * v ** (1 / a - 1) / a
                    res[i] = spi.quad(g, 0.0, x ** a, epsabs=0, epsrel=1e-13, limit=200)[0]
            return out
        a = self.local_exponent()

        def F(x):
            if x <= 0:
                return mp.mpf(0)
            if x >= 2:
                return mp.mpf(1)
            g = lambda v: self.pdf_u(MP, np.array([v ** (1 / a)], dtype=object))[0] * v ** (1 / a - 1) / a
            return mp.quad(g, [0, x ** a])
        return _obj(F)(u)


class GaussianScores(DeficitLaw):
    """Unnormalised Gaussian keys k ~ N(0, sigma^2 I_d): the score <q,k> ~ N(0, sigma^2) (|q|=1).

    u = ref - score with an arbitrary reference ``ref`` (weights are invariant to it; the
    engines pick ref near the top order statistic). Unbounded on both sides."""

    u_lo = -math.inf
    u_hi = math.inf
    lo_power = False
    hi_power = False
    bounded = False

    def __init__(self, sigma: float = 1.0, ref: float = 0.0):
        self.sigma, self.ref = float(sigma), float(ref)

    def __repr__(self):
        return f"GaussianScores(sigma={self.sigma}, ref={self.ref})"

    def with_ref(self, ref: float) -> "GaussianScores":
        return GaussianScores(self.sigma, ref)

    def pdf_u(self, bk, u):
        if bk is NP:
            z = (self.ref - np.asarray(u, float)) / self.sigma
            return np.exp(-0.5 * z * z) / (self.sigma * math.sqrt(2 * math.pi))
        s, r = mp.mpf(self.sigma), mp.mpf(self.ref)
        return _obj(lambda x: mp.npdf((r - x) / s) / s)(u)

    def cdf_u(self, bk, u):
        # P(ref - X <= u) = P(X >= ref - u) = Phi((u - ref)/sigma)
        if bk is NP:
            return sps.ndtr((np.asarray(u, float) - self.ref) / self.sigma)
        s, r = mp.mpf(self.sigma), mp.mpf(self.ref)
        return _obj(lambda x: mp.ncdf((x - r) / s))(u)

    def tilted_mass(self, beta: float) -> float:
        # E e^(-beta (ref - X)) = exp(-beta ref + beta^2 sigma^2 / 2)
        return math.exp(min(700.0, -beta * self.ref + 0.5 * (beta * self.sigma) ** 2))
