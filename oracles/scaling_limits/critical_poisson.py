"""The critical regime: the Poisson limit of the nearest keys (Bruno, Chen, Lin, Polyanskiy, Rigollet 2026).

Claim (docs/claims.md section 1, "Critical"; [P] for the existence of a non-degenerate limit at
beta = gamma n^(2/(d-1)), [D] for every formula below; verified here as listed per function).

Setting. n keys uniform on S^(d-1) (or any law with P(u <= r) ~ C r^a, key_laws.py),
beta_n = gamma n^(1/a) (= gamma n^(2/(d-1)) on the sphere). The energies x_i = beta_n u_i of the
nearest keys converge to a Poisson process on [0, inf) with mean measure Lambda([0, x]) = c x^a,

    c = C gamma^(-a)            (sphere: a = (d-1)/2, C = C_d),

equivalently x_k = g Gamma_k^p with Gamma_k the arrival times of a rate-1 Poisson process,
p = 1/a and g = c^(-1/a) = gamma C^(-p) (docs/claims.md's unit-rate form).  Weights
w_i = e^(-x_i) / S, S = sum_i e^(-x_i) (= the finite-n normaliser sum_i e^(-beta u_i), no 1/n).

    E S = Gamma(a+1) c,   Var S = Gamma(a+1) c 2^(-a),
    E e^(-s S) = exp(-Psi(s)),  Psi(s) = c E[(log s + V)_+^a], V standard Gumbel
                               = c Gamma(a+1) sum_(k>=1) (-1)^(k+1) s^k / (k! k^a),
    E W_max^m, E IPR = E sum w_i^2 and every Campbell moment E sum_i w_i^m x_i^k:
        E sum_i w_i^m f(x_i) = 1/Gamma(m) int_0^inf ds s^(m-1) e^(-Psi(s)) int f(x) e^(-m x)
                               e^(-s e^(-x)) dLambda(x)        (docs/claims.md's J_(m,k) form)
        E W_max^m = 1/Gamma(m) int dLambda(v) e^(-Lambda(v)) int dr r^(m-1) e^(-r)
                    exp(-int_(x>v) (1 - exp(-r e^(-(x-v)))) dLambda(x))
    (the second is docs/claims.md's Phi-formula after the substitution x -> Gamma_1 = Lambda(v)).

Output moments in the finite-n units (u = 1 - <q,k>, s = n^(2/(d-1)) u = x / gamma):
    E[1 - <q,y>]          ~ n^(-2/(d-1)) / gamma * E sum_i w_i x_i
    E|y - <q,y> q|^2      ~ 2 n^(-2/(d-1)) / gamma * E sum_i w_i^2 x_i
    Var <q,y>             ~ n^(-4/(d-1)) / gamma^2 * Var(sum_i w_i x_i).

Domain: a > 0, c > 0 (any d >= 2, gamma > 0); moments m > 0. The mpmath functions run the
quadrature engine (functionals.py) at ``dps`` digits and return mpf good to about dps - 5 digits
(error estimated by the engine at two resolutions in the tests); ``backend="numpy"`` returns a
float64 about 1e-12 accurate (relative), about 100x faster.
"""

from __future__ import annotations

import math

import numpy as np
from mpmath import mp
from scipy import special as sps

from attnspec.oracles.scaling_limits import functionals as F
from attnspec.oracles.scaling_limits._numerics import MP, NP
from attnspec.oracles.scaling_limits.key_laws import DeficitLaw, UniformSphere
from attnspec.oracles.scaling_limits.score_law import small_ball_constant


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------

def critical_beta(n, d: int, gamma, dps: int = 30):
    """beta_n = gamma n^(2/(d-1)) (mpf)."""
    with mp.workdps(dps):
        return mp.mpf(gamma) * mp.mpf(n) ** (mp.mpf(2) / (d - 1))


def limit_parameters(d: int | None = None, gamma=None, *, law: DeficitLaw | None = None, dps: int = 30):
    """(a, c): the Poisson mean measure c x^a of the energies at beta = gamma n^(1/a).

    Uniform sphere (``d``): a = (d-1)/2, c = C_d gamma^(-a); any ``law`` with a power law
    P(u <= r) ~ C r^a: c = C gamma^(-a)."""
    with mp.workdps(dps):
        if law is None:
            law = UniformSphere(d)
        a = law.local_exponent()
        C = law.small_ball_constant()
        return a, C * mp.mpf(gamma) ** (-a)


def unit_rate_scale(d: int, gamma, dps: int = 30):
    """g = gamma C_d^(-2/(d-1)) of docs/claims.md's unit-rate form (x_k = g Gamma_k^p)."""
    with mp.workdps(dps):
        return mp.mpf(gamma) * small_ball_constant(d, dps) ** (-mp.mpf(2) / (d - 1))


def _measure(d, gamma, law, bk):
    if bk is NP:
        a, c = limit_parameters(d, gamma, law=law, dps=20)
        return F.PoissonPower(float(a), c)  # c stays an mpf: it under/overflows float64 at large d
    a, c = limit_parameters(d, gamma, law=law, dps=mp.dps)
    return F.PoissonPower(a, c)


def _run(backend, dps, fn):
    if backend == "numpy":
        return float(fn(NP))
    with mp.workdps(dps):
        v = fn(MP)
    with mp.workdps(dps):
        return +v


# --------------------------------------------------------------------------------------------
# Normaliser
# --------------------------------------------------------------------------------------------

def limit_mean_normaliser(d: int | None = None, gamma=None, *, law=None, dps: int = 30):
    """E S = Gamma(a+1) c. Verified: exact finite-n E S = n e^(-beta) Z(beta) converges to it
    (docs/claims.md: d=3, gamma=1 gives 1/2), and Monte Carlo."""
    with mp.workdps(dps):
        a, c = limit_parameters(d, gamma, law=law, dps=dps)
        return mp.gamma(a + 1) * c


def limit_var_normaliser(d: int | None = None, gamma=None, *, law=None, dps: int = 30):
    """Var S = Gamma(a+1) c 2^(-a) (= int e^(-2x) dLambda). Verified: exact finite-n variance
    n e^(-2beta)(Z(2beta) - Z(beta)^2) converges to it; Monte Carlo."""
    with mp.workdps(dps):
        a, c = limit_parameters(d, gamma, law=law, dps=dps)
        return mp.gamma(a + 1) * c * mp.mpf(2) ** (-a)


def laplace_exponent(s, d: int | None = None, gamma=None, *, law=None, dps: int = 30):
    """Psi(s) = -log E e^(-s S) = c E[(log s + V)_+^a], V standard Gumbel (mp.quad over V).

    Verified against the alternating series c Gamma(a+1) sum (-1)^(k+1) s^k/(k! k^a) and the
    engine's chi(log s), and (d=3) against Ein(s)/(2 gamma)."""
    with mp.workdps(dps):
        a, c = limit_parameters(d, gamma, law=law, dps=dps + 10)
        with mp.workdps(dps + 10):
            ls = mp.log(mp.mpf(s))
            # V > -log s; density exp(-v - e^-v)
            f = lambda v: (ls + v) ** a * mp.exp(-v - mp.exp(-v))
            lo = -ls
            val = c * mp.quad(f, [lo, lo + 1, lo + 4, max(lo + 8, 4), max(lo + 20, 40), mp.inf])
        return +val


def laplace_exponent_series(s, d: int | None = None, gamma=None, *, law=None, dps: int = 30):
    """Psi(s) by its alternating power series (extra precision absorbs the cancellation, ~s/2.3
    digits). Independent of laplace_exponent."""
    with mp.workdps(dps):
        a, c = limit_parameters(d, gamma, law=law, dps=dps)
        s = mp.mpf(s)
        extra = int(float(s) / 2.3) + 10
        with mp.workdps(dps + extra):
            terms = []
            k = 1
            t = mp.mpf(1)
            while True:
                t = t * s / k
                term = t / mp.mpf(k) ** a
                terms.append(term if k % 2 else -term)
                if k > 2 * s + 10 and abs(term) < mp.mpf(10) ** (-(dps + extra)):
                    break
                k += 1
            val = c * mp.gamma(a + 1) * mp.fsum(terms)
        return +val


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------

def expected_wmax(d: int | None = None, gamma=None, *, moment=1, law=None, backend: str = "mpmath",
                  dps: int = 20, resolution: F.Resolution = F.Resolution()):
    """E W_max^moment in the critical Poisson limit.

    Verified: docs/claims.md's Phi formula implemented literally (d = 3, 8, 16; k = 1, 2) to 1e-12;
    docs/claims.md [M] values (d=3 gamma=1 0.72948821465467, gamma=0.4 0.500713, d=8
    gamma=4 0.411510, d=16 gamma=14.9 0.499376) to all quoted digits; d=3 closed form
    (wmax_d3.py) to 1e-16; the exact finite-n oracle at large n; the limit sampler."""
    return _run(backend, dps, lambda bk: F.max_functional(_measure(d, gamma, law, bk), bk, moment, resolution))


def campbell_moment(m, k, d: int | None = None, gamma=None, *, law=None, backend: str = "mpmath",
                    dps: int = 20, resolution: F.Resolution = F.Resolution()):
    """E sum_i w_i^m x_i^k (x_i the energies). m = 1, k = 0 is 1; m = 2, k = 0 is E IPR.

    Verified: E sum w_i = 1; docs/claims.md [M] E IPR(d=3, gamma=1) = 0.635255892672; d=3 closed forms;
    the exact finite-n oracle at large n; the limit sampler."""
    kk = k

    def fn(bk):
        f = None if kk == 0 else (lambda b, x: b.power(x, b.const(kk)))
        return F.sum_functional(_measure(d, gamma, law, bk), bk, m, [f], resolution)[0]
    return _run(backend, dps, fn)


def expected_ipr(d: int | None = None, gamma=None, *, law=None, backend: str = "mpmath", dps: int = 20):
    """E IPR = E sum_i w_i^2 in the critical Poisson limit (see campbell_moment)."""
    return campbell_moment(2, 0, d, gamma, law=law, backend=backend, dps=dps)


def laplace_R(r, d: int | None = None, gamma=None, *, law=None, backend: str = "numpy", dps: int = 20):
    """E exp(-r R), R = sum over non-nearest points of e^(-(x_j - x_min)) (W_max = 1/(1+R)), for
    an array of r. d = 3: exp(-Ein(r)/(2 gamma)) (R is generalised Dickman)."""
    if backend == "numpy":
        return np.asarray(F.max_functional(_measure(d, gamma, law, NP), NP, laplace_r=np.asarray(r, float)), float)
    with mp.workdps(dps):
        return F.max_functional(_measure(d, gamma, law, MP), MP, laplace_r=np.asarray(r, dtype=object))


def output_moments(d: int, gamma, *, backend: str = "mpmath", dps: int = 20) -> dict:
    """Limit output moments in scaled units (multiply by the stated power of n).

    Returns a dict of:
      ``mean_deficit``: E sum_i w_i s_i, s = n^(2/(d-1)) u (so E[1 - <q,y>] ~ n^(-2/(d-1)) times it);
      ``tangent_sq``: 2 E sum_i w_i^2 s_i (E|y_perp|^2 ~ n^(-2/(d-1)) times it; per tangent
        coordinate divide by d-1);
      ``var_deficit``: Var(sum_i w_i s_i) (Var <q,y> ~ n^(-4/(d-1)) times it).
    Verified against the exact finite-n output moments at large n and Monte Carlo with full keys.
    """
    def fn(bk):
        meas = _measure(d, gamma, None, bk)
        g = bk.const(gamma)
        ident = lambda b, x: x
        m1, = F.sum_functional(meas, bk, 1, [ident])
        cen = lambda b, x: x - m1  # centred (sum w_i = 1): no cancellation in the variance
        m2x, m2cc = F.sum_functional(meas, bk, 2, [ident, lambda b, x: (x - m1) * (x - m1)])
        m1c, = F.sum_functional(meas, bk, 1, [cen])
        pair, = F.pair_functional(meas, bk, [(cen, cen)])
        return {"mean_deficit": m1 / g, "tangent_sq": 2 * m2x / g,
                "var_deficit": (m2cc + pair - m1c * m1c) / (g * g)}
    if backend == "numpy":
        return {k: float(v) for k, v in fn(NP).items()}
    with mp.workdps(dps):
        out = fn(MP)
    return out


def gamma_at_half(d: int, *, backend: str = "numpy", dps: int = 20, target: float = 0.5):
    """The gamma at which the limit E W_max equals ``target`` (1/2 by default).

    Verified against docs/claims.md [M]: 0.39896 (d=3), 4.8950 (8), 14.920 (16), 85.172 (64)."""
    f = lambda lg: expected_wmax(d, math.exp(lg), backend="numpy") - target
    # bracket in log gamma
    lo, hi = math.log(1e-3), math.log(1e4)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if f(mid) > 0:
            hi = mid
        else:
            lo = mid
        if hi - lo < 1e-13:
            break
    g = math.exp(0.5 * (lo + hi))
    if backend == "numpy":
        return g
    with mp.workdps(dps):
        fm = lambda gg: expected_wmax(d, gg, backend="mpmath", dps=dps) - mp.mpf(target)
        return mp.findroot(fm, (mp.mpf(g) * (1 - mp.mpf(10) ** -9), mp.mpf(g) * (1 + mp.mpf(10) ** -9)),
                           solver="secant")


# --------------------------------------------------------------------------------------------
# Gaussian keys: Poisson-Dirichlet
# --------------------------------------------------------------------------------------------

def gaussian_critical_beta(n, sigma=1, gamma=1, dps: int = 30):
    """beta_n = gamma sqrt(2 log n) / sigma for unnormalised Gaussian keys N(0, sigma^2 I)."""
    with mp.workdps(dps):
        return mp.mpf(gamma) * mp.sqrt(2 * mp.log(mp.mpf(n))) / mp.mpf(sigma)


def poisson_dirichlet_expected_ipr(alpha, dps: int = 30):
    """E sum P_i^2 = 1 - alpha for PD(alpha, 0), 0 < alpha < 1 ([L] Pitman-Yor).

    Gaussian keys at beta = gamma sqrt(2 log n)/sigma: alpha = 1/gamma (gamma > 1); 0 for gamma <= 1."""
    with mp.workdps(dps):
        return 1 - mp.mpf(alpha)


def poisson_dirichlet_expected_wmax(alpha, dps: int = 30):
    """E max_i P_i for PD(alpha, 0): int_0^inf e^(-u) / (1 + alpha int_0^1 (1 - e^(-u r)) r^(-alpha-1) dr) du,
    the inner integral times alpha being u^alpha gamma(1-alpha, u) - (1 - e^(-u)).

    Derivation [D]: the ranked points of a Poisson process with intensity alpha y^(-alpha-1) dy,
    normalised by their sum, are PD(alpha, 0). Given the largest point m, the ratios of the others to
    it form a Poisson process on (0, 1) with intensity m^(-alpha) alpha r^(-alpha-1) dr, and
    m^(-alpha) ~ Exp(1); averaging exp(-m^(-alpha) J(u)) over it gives 1/(1 + J(u)). Verified
    against the quadrature engine run on the Gumbel intensity e^(x/gamma)/gamma and Monte Carlo."""
    with mp.workdps(dps):
        al = mp.mpf(alpha)

        def J(u):
            if u == 0:
                return mp.mpf(0)
            return u ** al * mp.gammainc(1 - al, 0, u) - (1 - mp.exp(-u))
        with mp.workdps(dps + 10):
            v = mp.quad(lambda u: mp.exp(-u) / (1 + J(u)), [0, 1, 5, 20, 60, mp.inf])
        return +v


def poisson_dirichlet_wmax_engine(gamma, *, backend: str = "numpy", dps: int = 20):
    """E W_max for the Gumbel Poisson process (PD(1/gamma, 0)) by the generic engine."""
    def fn(bk):
        meas = F.PoissonGumbel(gamma if bk is NP else mp.mpf(gamma))
        return F.max_functional(meas, bk, 1)
    return _run(backend, dps, fn)


def large_d_pd_parameter(d: int, gamma, dps: int = 30):
    """kappa = gamma C_d^(-p) p (p = 2/(d-1)): as d grows at fixed kappa the critical weights tend to
    PD(1/kappa, 0) (energies g Gamma_k^p = g + g p log Gamma_k + O(p^2)). Returns kappa."""
    with mp.workdps(dps):
        p = mp.mpf(2) / (d - 1)
        return unit_rate_scale(d, gamma, dps) * p
