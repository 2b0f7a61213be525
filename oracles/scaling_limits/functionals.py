"""Quadrature engine for expectations of softmax weights over n i.i.d. keys or a Poisson process.

This module holds no claim of its own: finite_n.py, critical_poisson.py and subcritical.py state
the claims and call it. It evaluates, for energies x_i (weights w_i = e^(-x_i) / sum_j e^(-x_j)):

  sum functional   E sum_i w_i^m f(x_i)
                   = n / Gamma(m) int ds s^(m-1) E[f(x) e^(-m x) e^(-s e^(-x))] L(s)^(n-1),
                   L(s) = E e^(-s e^(-x)) = 1 - chi(log s)
  pair functional  E sum_(i != j) w_i w_j f(x_i) g(x_j)
                   = n (n-1) int ds s E[f e^(-x) e^(-s e^(-x))] E[g ...] L(s)^(n-2)
  max functional   E W_max^m = n / Gamma(m) int dP(v) int dr r^(m-1) e^(-r)
                               [1 - P(x <= v) - chi_+(r, v)]^(n-1),
                   chi_+(r, v) = int_(x > v) (1 - exp(-r e^(-(x - v)))) dP(x)

(1/D^m = int s^(m-1) e^(-sD) ds / Gamma(m) and independence; for W_max, condition on the
minimum energy v and write W_max^m = (1 + R)^(-m) with R the sum over the other keys relative
to it). In the Poisson limit n dP becomes the intensity Lambda(dx) and (n-1) log(1 - y)
becomes -y (Mecke formula).  Everything is written so that no quantity is a difference of
nearly equal numbers: 1 - L = chi is an integral of -expm1(-s e^(-x)) >= 0, and
P(x <= v) + chi_+ is a sum of two non-negative terms; powers (.)^(n-1) are
exp((n-1) log1p(-.)), good to n = 1e15 and beyond.

Grids are planned in float64 (panel layout only) and the integrals are evaluated in the chosen
backend (mpmath at the caller's precision, or float64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from mpmath import mp
from scipy import special as sps

from attnspec.oracles.scaling_limits._numerics import MP, NP, map_panels, panel_breaks, window_rule
from attnspec.oracles.scaling_limits.key_laws import DeficitLaw, GaussianScores


# --------------------------------------------------------------------------------------------
# Energy measures
# --------------------------------------------------------------------------------------------

class EnergyMeasure:
    """Law (n keys) or intensity (Poisson process) of the energies x (weights e^(-x))."""

    n = None  # None: Poisson process
    lo: float
    hi: float
    lo_power: bool
    hi_power: bool

    def pdf(self, bk, x):
        raise NotImplementedError

    def cdf(self, bk, x):
        """P(x_1 <= x) (finite n) or Lambda((lo, x]) (Poisson)."""
        raise NotImplementedError

    def mass_np(self, x):
        """Expected number of points below x (n P(x_1 <= x) or Lambda), float64."""
        c = self.cdf(NP, np.asarray(x, float))
        return c * self.n if self.n is not None else c

    def x_at_mass(self, M: float) -> float:
        """Smallest x with mass_np(x) >= M (float64 bisection); hi if never reached."""
        lo = self.lo if math.isfinite(self.lo) else -1.0
        if not math.isfinite(self.lo):
            while self.mass_np(lo) > M:
                lo = 2 * lo - 1
        if self.mass_np(lo) >= M:
            return lo
        hi = self.hi if math.isfinite(self.hi) else max(1.0, lo + 1)
        if not math.isfinite(self.hi):
            while self.mass_np(hi) < M:
                hi = 2 * hi + 1
                if hi > 1e300:
                    return math.inf
        elif self.mass_np(hi) < M:
            return hi
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if self.mass_np(mid) >= M:
                hi = mid
            else:
                lo = mid
            if hi - lo <= 1e-13 * max(1.0, abs(hi)):
                break
        return hi


class FiniteEnergies(EnergyMeasure):
    """Energies x = beta u of n i.i.d. keys with deficit law ``law``."""

    def __init__(self, law: DeficitLaw, beta, n):
        self.law = law
        self.beta = beta
        self.beta_f = float(beta)
        self.n = n
        self.n_f = float(n)
        self.lo = self.beta_f * law.u_lo if math.isfinite(law.u_lo) else -math.inf
        self.hi = self.beta_f * law.u_hi if math.isfinite(law.u_hi) else math.inf
        self.lo_power, self.hi_power = law.lo_power, law.hi_power

    def mass_np(self, x):
        return self.n_f * self.law.cdf_u(NP, np.asarray(x, float) / self.beta_f)

    def pdf(self, bk, x):
        b = self.beta_f if bk is NP else mp.mpf(self.beta)
        return self.law.pdf_u(bk, x / b) / b

    def cdf(self, bk, x):
        b = self.beta_f if bk is NP else mp.mpf(self.beta)
        return self.law.cdf_u(bk, x / b)


class PoissonPower(EnergyMeasure):
    """Poisson process on [0, inf) with mean measure Lambda([0, x]) = c x^a.

    float64 evaluations work in log space (c underflows and x^a overflows at large a)."""

    lo, hi, lo_power, hi_power = 0.0, math.inf, True, False

    def __init__(self, a, c):
        self.a, self.c = a, c
        self.a_f = float(a)
        self.log_c = float(mp.log(c)) if not isinstance(c, float) else math.log(c)
        self.c_f = math.exp(self.log_c) if self.log_c < 700 else math.inf

    def pdf(self, bk, x):
        if bk is NP:
            x = np.asarray(x, float)
            with np.errstate(divide="ignore"):
                lx = np.log(np.maximum(x, 1e-300))
            v = np.exp(np.minimum(self.log_c + math.log(self.a_f) + (self.a_f - 1) * lx, 700.0))
            return np.where(x > 0, v, 0.0)
        a, c = mp.mpf(self.a), mp.mpf(self.c)
        return np.frompyfunc(lambda v: c * a * v ** (a - 1) if v > 0 else mp.mpf(0), 1, 1)(x)

    def cdf(self, bk, x):
        if bk is NP:
            x = np.asarray(x, float)
            with np.errstate(divide="ignore"):
                lx = np.log(np.maximum(x, 1e-300))
            v = np.exp(np.minimum(self.log_c + self.a_f * lx, 700.0))
            return np.where(x > 0, v, 0.0)
        a, c = mp.mpf(self.a), mp.mpf(self.c)
        return np.frompyfunc(lambda v: c * v ** a if v > 0 else mp.mpf(0), 1, 1)(x)

    def x_at_mass(self, M: float) -> float:
        return math.exp((math.log(M) - self.log_c) / self.a_f)


class PoissonGumbel(EnergyMeasure):
    """Poisson process on R with mean measure Lambda((-inf, x]) = exp(x / gamma).

    The energies -gamma z of a Gumbel point process (intensity e^(-z) dz); the normalised
    weights are Poisson-Dirichlet PD(1/gamma, 0) (gamma > 1)."""

    lo, hi, lo_power, hi_power = -math.inf, math.inf, False, False

    def __init__(self, gamma):
        self.gamma = gamma
        self.g_f = float(gamma)

    def pdf(self, bk, x):
        if bk is NP:
            return np.exp(np.asarray(x, float) / self.g_f) / self.g_f
        g = mp.mpf(self.gamma)
        return np.frompyfunc(lambda v: mp.exp(v / g) / g, 1, 1)(x)

    def cdf(self, bk, x):
        if bk is NP:
            return np.exp(np.asarray(x, float) / self.g_f)
        g = mp.mpf(self.gamma)
        return np.frompyfunc(lambda v: mp.exp(v / g), 1, 1)(x)

    def x_at_mass(self, M: float) -> float:
        return self.g_f * math.log(M)


def finite_measure(law: DeficitLaw, beta, n) -> FiniteEnergies:
    """Finite-n energies; for unbounded (Gaussian) laws the reference is moved to the top."""
    if isinstance(law, GaussianScores):
        # put the 1/n upper quantile of the score at u = 0
        z = float(-sps.ndtri(1.0 / float(n))) if float(n) > 1 else 0.0
        law = law.with_ref(law.sigma * z)
    return FiniteEnergies(law, beta, n)


# --------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Resolution:
    """Panel width h (energy units) and Gauss-Legendre order q; growth of far panels."""

    h: float = 1.0
    q: int = 12
    growth: float = 1.35
    h_max: float = 2.0

    def finer(self) -> "Resolution":
        return Resolution(self.h / 1.6, self.q + 4, 1 + (self.growth - 1) / 1.5, self.h_max / 1.5)


def _cut(bk) -> float:
    """Exponent below which a contribution is negligible at the backend's precision."""
    dps = 17 if bk is NP else mp.dps
    return (dps + 3) * math.log(10)


def _offsets(lo: float, hi: float, res: Resolution, fine_hi: float = 4.0) -> np.ndarray:
    return panel_breaks(lo, hi, fine=(lo, min(hi, fine_hi)), h=res.h, growth=res.growth, h_max=res.h_max)


def _total_mass_tilted(meas: EnergyMeasure, m: float) -> float:
    """Rough n E e^(-m x) (or int e^(-m x) dLambda), float, for sizing ranges."""
    if isinstance(meas, PoissonPower):
        return math.exp(min(700.0, meas.log_c + math.lgamma(meas.a_f + 1) - meas.a_f * math.log(m)))
    if isinstance(meas, FiniteEnergies):
        return meas.n_f * meas.law.tilted_mass(m * meas.beta_f)
    return math.inf


# --------------------------------------------------------------------------------------------
# Sum and pair functionals (s-form, tau = log s)
# --------------------------------------------------------------------------------------------

class _TauParts:
    """chi(tau) and Q_{f,m}(tau) = int f(x) e^(m(tau-x) - e^(tau-x)) dP(x) on a set of taus."""

    def __init__(self, meas: EnergyMeasure, bk, taus, res: Resolution, L_hi: float):
        self.meas, self.bk = meas, bk
        M = _cut(bk)
        self.L_left = math.log(2 * M) + 1.0
        offs = _offsets(-self.L_left, L_hi, res)
        self.X, self.W = window_rule(bk, taus, offs, res.q, meas.lo, meas.hi,
                                     meas.lo_power, meas.hi_power)
        self.taus = taus
        tcol = taus[:, None]
        self.Y = tcol - self.X  # tau - x
        self.P = meas.pdf(bk, self.X) * self.W
        eY = bk.exp(self.Y)
        self.eY = eY
        left = np.asarray(bk.to_float(taus), float) - self.L_left
        below = np.maximum(left, meas.lo)
        base = meas.cdf(bk, bk.asarray(below))
        if np.isfinite(meas.lo):
            base = np.where(left > meas.lo, base, bk.const(0))
        self.chi = base + (bk.one_minus_exp_neg(eY) * self.P).sum(axis=1)

    def Q(self, m, f=None):
        bk = self.bk
        K = bk.exp(bk.const(m) * self.Y - self.eY) * self.P
        if f is not None:
            K = K * f(bk, self.X)
        return K.sum(axis=1)


def _log_terms(bk, meas, chi, k):
    """(n-k) log1p(-chi) (finite) or -chi (Poisson)."""
    if meas.n is None:
        return -chi
    one = bk.const(1)
    chi = np.minimum(chi, one) if bk is NP else np.frompyfunc(lambda v: min(v, one), 1, 1)(chi)
    nk = bk.const(meas.n) - k
    if bk is NP:
        with np.errstate(divide="ignore"):
            return nk * np.log1p(-chi)
    return np.frompyfunc(lambda v: nk * mp.log1p(-v) if v < 1 else -mp.inf, 1, 1)(chi)


def _plan_tau(meas: EnergyMeasure, m: float, res: Resolution, log_F, M: float) -> np.ndarray:
    """Panel breakpoints in tau for an integrand whose float64 log is log_F(taus); contributions
    below e^(-M) relative are dropped."""
    T = _total_mass_tilted(meas, m)
    x1 = meas.x_at_mass(1.0)
    lo_e = meas.lo if math.isfinite(meas.lo) else meas.x_at_mass(math.exp(-M - 5))
    if math.isfinite(T) and T > 0:
        tau_lo = min(lo_e, 0.0) - (M + 5 + max(0.0, math.log(T))) / m
    else:
        tau_lo = lo_e - 5.0
    x_top = meas.x_at_mass(max(2 * M, 1.0) if meas.n is None else min(2 * M, meas.n_f))
    if not math.isfinite(x_top):
        x_top = meas.hi
    tau_hi = x_top + math.log(4 * M) + 5.0
    centre = x1 if math.isfinite(x1) else 0.0
    if math.isfinite(T) and T > 0:
        centre = min(centre, -math.log(T))
    # coarse scan (geometric away from the centre) to find where the integrand lives
    scan = panel_breaks(tau_lo, tau_hi, fine=(centre - 30, centre + 30), h=0.5, growth=1.1, h_max=math.inf)
    lf = log_F(scan)
    top = np.max(lf[np.isfinite(lf)])
    alive = lf > top - M - 8
    idx = np.nonzero(alive)[0]
    i0, i1 = max(idx[0] - 1, 0), min(idx[-1] + 1, len(scan) - 1)
    a, b = scan[i0], scan[i1]
    peak = scan[int(np.argmax(np.where(np.isfinite(lf), lf, -np.inf)))]
    brk = panel_breaks(a, b, fine=(peak - 3 * res.h, peak + 3 * res.h), h=res.h,
                       growth=res.growth, h_max=math.inf)
    # refine where log F changes by more than 2.5 across a panel
    for _ in range(20):
        vals = log_F(brk)
        new = [brk[0]]
        changed = False
        for j in range(len(brk) - 1):
            va, vb = vals[j], vals[j + 1]
            live = max(va, vb) > top - M - 8
            allowed = 2.5 + 0.2 * max(0.0, top - max(va, vb))
            if live and (not (np.isfinite(va) and np.isfinite(vb)) or abs(va - vb) > allowed) \
                    and brk[j + 1] - brk[j] > 1e-6 * max(1.0, abs(brk[j])):
                new.append(0.5 * (brk[j] + brk[j + 1]))
                changed = True
            new.append(brk[j + 1])
        brk = np.array(new)
        if not changed:
            break
    return brk


def _tau_nodes(bk, brk, q):
    t, w, _ = bk.gl(q)
    a = bk.asarray(brk[:-1])[:, None]
    L = bk.asarray(np.diff(brk))[:, None]
    return (a + L * t[None, :]).reshape(-1), (L * w[None, :]).reshape(-1)


def _L_hi(meas: EnergyMeasure, m: float, M: float) -> float:
    n_eff = meas.n_f if meas.n is not None else max(1.0, float(meas.mass_np(meas.x_at_mass(1.0) + 4 * M)))
    return (M + 5 + math.log(max(1.0, n_eff))) / m


def sum_functional(meas: EnergyMeasure, bk, m, fs, res: Resolution = Resolution()):
    """[E sum_i w_i^m f(x_i) for f in fs] (f: callable(bk, x) -> array, or None for 1)."""
    m_f = float(m)
    M = _cut(bk)
    L_hi = _L_hi(meas, min(m_f, 1.0), M)

    def log_F(taus):
        parts = _TauParts(meas, NP, np.asarray(taus, float), res, L_hi)
        Q = parts.Q(m_f)
        with np.errstate(divide="ignore"):
            return np.log(np.abs(Q)) + _log_terms(NP, meas, parts.chi, 1)

    brk = _plan_tau(meas, m_f, res, log_F, M)
    taus, wts = _tau_nodes(bk, brk, res.q)
    parts = _TauParts(meas, bk, taus, res, L_hi)
    E = bk.exp(_log_terms(bk, meas, parts.chi, 1))
    pref = (bk.const(meas.n) if meas.n is not None else bk.const(1))
    if bk is NP:
        pref = pref / math.gamma(m_f)
    else:
        pref = pref / mp.gamma(mp.mpf(m))
    return [pref * (wts * parts.Q(m, f) * E).sum() for f in fs]


def pair_functional(meas: EnergyMeasure, bk, pairs, res: Resolution = Resolution()):
    """[E sum_(i != j) w_i w_j f(x_i) g(x_j) for (f, g) in pairs]."""
    M = _cut(bk)
    L_hi = _L_hi(meas, 1.0, M)

    def log_F(taus):
        parts = _TauParts(meas, NP, np.asarray(taus, float), res, L_hi)
        Q = parts.Q(1.0)
        with np.errstate(divide="ignore"):
            return 2 * np.log(np.abs(Q)) + _log_terms(NP, meas, parts.chi, 2)

    brk = _plan_tau(meas, 2.0, res, log_F, M)
    taus, wts = _tau_nodes(bk, brk, res.q)
    parts = _TauParts(meas, bk, taus, res, L_hi)
    E = bk.exp(_log_terms(bk, meas, parts.chi, 2))
    if meas.n is not None:
        pref = bk.const(meas.n) * (bk.const(meas.n) - 1)
    else:
        pref = bk.const(1)
    return [pref * (wts * parts.Q(1, f) * parts.Q(1, g) * E).sum() for f, g in pairs]


def laplace_normaliser(meas: EnergyMeasure, bk, s):
    """E exp(-s D), D = sum_i e^(-x_i): exp(n log(1 - chi(log s))) or exp(-chi(log s))."""
    res = Resolution()
    s_arr = bk.asarray(np.atleast_1d(np.asarray(s, dtype=object if bk is MP else float)))
    taus = bk.log(s_arr)
    parts = _TauParts(meas, bk, taus, res, _L_hi(meas, 1.0, _cut(bk)))
    if meas.n is None:
        return bk.exp(-parts.chi)
    return bk.exp(_log_terms(bk, meas, parts.chi, 0))


def chi_of_tau(meas: EnergyMeasure, bk, taus, res: Resolution = Resolution()):
    """chi(tau) = int (1 - exp(-e^(tau - x))) dP(x) (or dLambda): the Laplace exponent at s = e^tau."""
    parts = _TauParts(meas, bk, bk.asarray(np.asarray(taus, dtype=object if bk is MP else float)),
                      res, _L_hi(meas, 1.0, _cut(bk)))
    return parts.chi


def _plan_v(meas: EnergyMeasure, v_lo: float, v_hi: float, res: Resolution, M: float) -> np.ndarray:
    """Breakpoints for the minimum energy v on [v_lo, v_hi]: width <= h/2 near v_lo (R given v
    grows like e^v), relative width <= 0.3 beyond (power-law densities), and mass increments
    <= 0.75 + mass/4 (the e^(-mass) weight)."""
    pts = [v_lo]
    x = v_lo
    h = res.h / 2
    while x < v_hi:
        w = max(h, 0.3 * abs(x)) if x > v_lo + 4 * h else h
        pts.append(min(v_hi, x + w))
        x = pts[-1]
    brk = np.array(pts)
    for _ in range(80):
        mass = meas.mass_np(brk)
        new = [brk[0]]
        changed = False
        for j in range(len(brk) - 1):
            a, b = brk[j], brk[j + 1]
            allowed = 0.75 + 0.25 * mass[j]
            if (mass[j + 1] - mass[j]) > allowed and mass[j] < M + 5 and b - a > 1e-12 * max(1.0, abs(a)):
                new.append(0.5 * (a + b))
                changed = True
            new.append(b)
        brk = np.array(new)
        if not changed:
            break
    return brk


def _matmul(bk, A, B):
    """A @ B; for mpmath object arrays the product runs in python-flint ball arithmetic at the
    working precision plus 20 bits (the midpoints are returned; radii are far below 10^-dps)."""
    if bk is NP:
        return A @ B
    import flint

    saved = flint.ctx.prec
    flint.ctx.prec = mp.prec + 20
    try:
        Af = flint.arb_mat(A.shape[0], A.shape[1], [flint.arb(v) for v in A.reshape(-1)])
        Bf = flint.arb_mat(B.shape[0], B.shape[1], [flint.arb(v) for v in B.reshape(-1)])
        C = Af * Bf
        out = np.empty((A.shape[0], B.shape[1]), dtype=object)
        for i in range(A.shape[0]):
            for j in range(B.shape[1]):
                out[i, j] = mp.mpf(C[i, j].mid())
        return out
    finally:
        flint.ctx.prec = saved


# --------------------------------------------------------------------------------------------
# Max functional (condition on the minimum energy v; r relative to it)
# --------------------------------------------------------------------------------------------

def _max_exponent(bk, meas, G, chi_plus):
    tot = G + chi_plus
    if meas.n is None:
        return -tot
    return _log_terms(bk, meas, tot, 1)


def max_functional(meas: EnergyMeasure, bk, m=1, res: Resolution = Resolution(), laplace_r=None):
    """E W_max^m (laplace_r None) or, when laplace_r is an array of r > 0, E exp(-r R) with
    R = sum over non-nearest points of e^(-(x_j - x_min)) (then W_max = 1/(1+R))."""
    M = _cut(bk)
    m_f = float(m)
    n = meas.n
    # ---- v grid: minimum energy
    if n is None:
        x_cut = meas.x_at_mass(M + 5)
    else:
        if meas.n_f <= 1:
            x_cut = meas.hi
        else:
            target = meas.n_f * (-math.expm1(-(M + 5) / (meas.n_f - 1)))
            x_cut = meas.x_at_mass(target) if target < meas.n_f else meas.hi
    v_lo = meas.lo if math.isfinite(meas.lo) else meas.x_at_mass(math.exp(-M - 5))
    v_hi = min(x_cut, meas.hi)
    brk_v = _plan_v(meas, v_lo, v_hi, res, M)
    Vn, WVn = map_panels(bk, brk_v[:-1], brk_v[1:], res.q, meas.lo, meas.hi, meas.lo_power, meas.hi_power)
    V, WV = Vn.reshape(-1), WVn.reshape(-1)
    PV = meas.pdf(bk, V) * WV
    GV = meas.cdf(bk, V)
    if n is not None and not isinstance(meas, FiniteEnergies):
        raise TypeError("finite measures must be FiniteEnergies")
    # ---- w grid: offsets above v
    Vf = np.asarray(bk.to_float(V), float)
    # scale of R given v: n int_0^inf e^-w dP(v + w)
    w_probe = np.linspace(0.0, 60.0, 601)
    dens = meas.pdf(NP, Vf[:, None] + w_probe[None, :]) * (meas.n_f if n is not None else 1.0)
    R_scale = float(np.max(np.trapezoid(dens * np.exp(-w_probe)[None, :], w_probe, axis=1)))
    R_scale = max(R_scale, 1e-300)
    rho_hi = math.log(M + 10.0 + 2 * max(0.0, m_f - 1))
    L_w = M + 5 + max(0.0, math.log(R_scale)) + rho_hi
    # near zone: for v within W0 of a power-law lower end, pdf(v + w) is nearly singular at
    # w = -v; that piece is integrated per v in xi = sqrt(y - lo), y = v + w
    W0 = min(2.0, max(L_w, 1.0)) if (meas.lo_power and math.isfinite(meas.lo)) else 0.0
    if W0 > 0:
        offs = np.concatenate([panel_breaks(0.0, W0, fine=(0.0, W0), h=res.h, growth=1.0, h_max=res.h)[:-1],
                               _offsets(W0, L_w, res, fine_hi=W0 + 4.0)])
    else:
        offs = _offsets(0.0, L_w, res)
    n_near = int(np.searchsorted(offs, W0 - 1e-12)) * res.q  # node columns with w < W0
    small = (Vf - meas.lo) < W0 if W0 > 0 else np.zeros(len(Vf), bool)
    clipped = math.isfinite(meas.hi) and (Vf.max() + L_w > meas.hi)
    # ---- r grid: one Gauss-Legendre panel in r on [0, r_a] (E e^(-rR) is analytic and nearly
    # linear there), panels of width h in rho = log r up to r = 2, then panels in r of widths
    # 2, 3, 4, ... (e^(-r) over width w costs a relative (w/2)^(2q)/(2q)! per panel, far below
    # e^(r_start) times the target)
    if laplace_r is None:
        r_a = min(0.05 / R_scale, 1.0)
        r_b = 2.0
        t0, w0, _ = bk.gl(res.q)
        rho_a = math.log(r_a)
        pieces_r, pieces_w = [], []
        brk_r = panel_breaks(rho_a, math.log(r_b), fine=(rho_a, math.log(r_b)), h=res.h, growth=1.0, h_max=res.h)
        rho, wr = _tau_nodes(bk, brk_r, res.q)
        r_mid = bk.exp(rho)
        pieces_r.append(r_mid)
        pieces_w.append(wr * bk.exp(bk.const(m) * rho - r_mid))
        ra = bk.exp(bk.const(float(brk_r[0])))  # exactly where the first log-panel starts
        r_lo = ra * t0
        pieces_r.insert(0, r_lo)
        pieces_w.insert(0, ra * w0 * bk.power(r_lo, bk.const(m) - 1) * bk.exp(-r_lo))
        edges = [bk.exp(bk.const(float(brk_r[-1])))]
        width = 2.0 / (res.h if res.h < 1 else 1.0) * res.h
        while float(edges[-1]) < M + 10.0 + 2 * max(0.0, m_f - 1):
            edges.append(edges[-1] + bk.const(width))
            width += res.h
        E0 = np.array(edges[:-1], dtype=object if bk is MP else float)
        E1 = np.array(edges[1:], dtype=object if bk is MP else float)
        r_up = (E0[:, None] + (E1 - E0)[:, None] * t0[None, :]).reshape(-1)
        w_up = ((E1 - E0)[:, None] * w0[None, :]).reshape(-1)
        pieces_r.append(r_up)
        pieces_w.append(w_up * bk.power(r_up, bk.const(m) - 1) * bk.exp(-r_up))
        r = np.concatenate(pieces_r)
        wr = np.concatenate(pieces_w)
    else:
        r = bk.asarray(np.atleast_1d(np.asarray(laplace_r, dtype=object if bk is MP else float)))
    # ---- chi_plus(r, v) = int_(w > 0) (1 - exp(-r e^-w)) pdf(v + w) dw
    if not clipped:
        X, WX = window_rule(bk, bk.asarray(np.zeros(1)), offs, res.q, 0.0, math.inf, False, False)
        w_nodes, w_wts = X[0], WX[0]
        D = meas.pdf(bk, V[:, None] + w_nodes[None, :]) * w_wts[None, :]  # [Nv, Nw]
        if small.any():
            D[np.ix_(small, np.arange(n_near))] = bk.const(0)
        Kr = bk.one_minus_exp_neg(r[None, :] * bk.exp(-w_nodes)[:, None])  # [Nw, Nr]
        chi_plus = _matmul(bk, D, Kr)  # [Nv, Nr]
    else:
        X, WX = window_rule(bk, V, offs, res.q, meas.lo, meas.hi, False, meas.hi_power)
        D = meas.pdf(bk, X) * WX  # [Nv, Nw]
        if small.any():
            D[np.ix_(small, np.arange(n_near))] = bk.const(0)
        Ew = bk.exp(-(X - V[:, None]))
        chi_plus = np.empty((len(V), len(r)), dtype=D.dtype)
        for k in range(len(r)):
            chi_plus[:, k] = (bk.one_minus_exp_neg(r[k] * Ew) * D).sum(axis=1)
    if small.any():
        tz, wz, _ = bk.gl(res.q + 4)
        lo_b = bk.const(meas.lo)
        Vs = V[small]
        top = Vs + bk.const(W0)
        if math.isfinite(meas.hi):
            top = np.minimum(top, bk.const(meas.hi)) if bk is NP else \
                np.frompyfunc(lambda x: min(x, mp.mpf(meas.hi)), 1, 1)(top)
        xa = bk.sqrt(Vs - lo_b)[:, None]
        xb = bk.sqrt(top - lo_b)[:, None]
        xi = xa + (xb - xa) * tz[None, :]
        Y = lo_b + xi * xi
        Wy = 2 * xi * (xb - xa) * wz[None, :]
        Wn = (xi - xa) * (xi + xa)  # y - v without cancellation
        Dz = meas.pdf(bk, Y) * Wy  # [Ns, qz]
        Ez = bk.exp(-Wn)
        Kz = bk.one_minus_exp_neg(r[None, None, :] * Ez[:, :, None])  # [Ns, qz, Nr]
        chi_plus[small] = chi_plus[small] + (Dz[:, :, None] * Kz).sum(axis=1)
    expo = _max_exponent(bk, meas, GV[:, None], chi_plus)
    inner = bk.exp(expo)
    if laplace_r is not None:
        pref = bk.const(meas.n) if n is not None else bk.const(1)
        return pref * (PV[:, None] * inner).sum(axis=0)
    inner_r = (inner * wr[None, :]).sum(axis=1)
    pref = bk.const(meas.n) if n is not None else bk.const(1)
    if bk is NP:
        pref = pref / math.gamma(m_f)
    else:
        pref = pref / mp.gamma(mp.mpf(m))
    return pref * (PV * inner_r).sum()
