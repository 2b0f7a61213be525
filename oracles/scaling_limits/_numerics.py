"""Numerical plumbing shared by the scaling-limit oracles (no claims live here).

Two array backends run the same quadrature code:

* ``MP``: numpy object arrays of mpmath ``mpf`` at the working precision of the caller's
  ``mp.workdps`` block (the oracles open that block themselves; nothing here sets a precision);
* ``NP``: float64 numpy/scipy, the fast vectorised tier.

Quadrature is composite Gauss-Legendre on panels. Near a support end where a density behaves
like a power (x - lo)^(a-1), panels are mapped through xi = sqrt(x - lo), which turns
(x - lo)^(a-1) dx into a polynomial in xi whenever 2a is an integer (every sphere), so the rule
keeps its spectral accuracy on every panel, including those next to the end.
"""

from __future__ import annotations

import math
from functools import lru_cache

import mpmath
import numpy as np
from mpmath import mp
from scipy import special as sps


# --------------------------------------------------------------------------------------------
# Gauss-Legendre nodes, weights and integration matrices on [0, 1]
# --------------------------------------------------------------------------------------------

@lru_cache(maxsize=64)
def _gl_mp(q: int, dps: int) -> tuple[tuple, tuple]:
    """Gauss-Legendre nodes and weights on [0, 1] at ``dps`` digits (Newton on P_q)."""
    with mp.workdps(dps + 10):
        nodes, weights = [], []
        for i in range(1, q + 1):
            x = mp.cos(mp.pi * (i - mp.mpf(1) / 4) / (q + mp.mpf(1) / 2))
            for _ in range(100):
                p0, p1 = mp.mpf(1), x
                for k in range(2, q + 1):
                    p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
                dp = q * (x * p1 - p0) / (x * x - 1)
                dx = p1 / dp
                x -= dx
                if abs(dx) < mp.mpf(10) ** (-(dps + 8)):
                    break
            p0, p1 = mp.mpf(1), x
            for k in range(2, q + 1):
                p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
            dp = q * (x * p1 - p0) / (x * x - 1)
            nodes.append((1 - x) / 2)
            weights.append(1 / ((1 - x * x) * dp * dp))
        return tuple(nodes), tuple(weights)


@lru_cache(maxsize=64)
def _gl_np(q: int) -> tuple[np.ndarray, np.ndarray]:
    n, w = _gl_mp(q, 40)
    return np.array([float(v) for v in n]), np.array([float(v) for v in w])


# --------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------

class _NumpyBackend:
    name = "numpy"

    exp = staticmethod(np.exp)
    expm1 = staticmethod(np.expm1)
    log = staticmethod(np.log)
    log1p = staticmethod(np.log1p)
    sqrt = staticmethod(np.sqrt)
    cos = staticmethod(np.cos)
    sin = staticmethod(np.sin)
    pi = math.pi

    @staticmethod
    def asarray(x):
        return np.asarray(x, dtype=float)

    @staticmethod
    def const(x):
        return float(x)

    @staticmethod
    def gl(q: int):
        """(nodes, weights, None) of q-point Gauss-Legendre on [0, 1]."""
        n, w = _gl_np(q)
        return n, w, None

    @staticmethod
    def power(x, y):
        return np.power(x, y)

    @staticmethod
    def betainc(a, b, x):
        return sps.betainc(a, b, x)

    @staticmethod
    def gammaln(x):
        return sps.gammaln(x)

    @staticmethod
    def ndtr(x):
        return sps.ndtr(x)

    @staticmethod
    def log_ndtr(x):
        return sps.log_ndtr(x)

    @staticmethod
    def to_float(x):
        return np.asarray(x, dtype=float)

    @staticmethod
    def one_minus_exp_neg(z):
        """1 - e^(-z) = -expm1(-z)."""
        return -np.expm1(-z)

    @staticmethod
    def fsum(x, axis=None):
        return np.sum(x, axis=axis)


def _ufunc(f):
    return np.frompyfunc(f, 1, 1)


class _MpmathBackend:
    name = "mpmath"

    exp = staticmethod(_ufunc(mp.exp))
    expm1 = staticmethod(_ufunc(mp.expm1))
    log = staticmethod(_ufunc(mp.log))
    log1p = staticmethod(_ufunc(mp.log1p))
    sqrt = staticmethod(_ufunc(mp.sqrt))
    cos = staticmethod(_ufunc(mp.cos))
    sin = staticmethod(_ufunc(mp.sin))
    _power = staticmethod(np.frompyfunc(lambda x, y: mp.power(x, y), 2, 1))
    _betainc = staticmethod(np.frompyfunc(
        lambda a, b, x: mp.betainc(a, b, 0, x, regularized=True), 3, 1))
    _ndtr = staticmethod(_ufunc(mp.ncdf))
    _to_float = staticmethod(np.frompyfunc(float, 1, 1))

    @property
    def pi(self):
        return +mp.pi

    @staticmethod
    def asarray(x):
        arr = np.asarray(x, dtype=object)
        conv = np.frompyfunc(mp.mpf, 1, 1)
        return conv(arr) if arr.shape else np.array(mp.mpf(arr.item()), dtype=object)

    @staticmethod
    def const(x):
        return mp.mpf(x)

    @staticmethod
    def gl(q: int):
        """(nodes, weights, None) of q-point Gauss-Legendre on [0, 1] at the working precision."""
        n, w = _gl_mp(q, mp.dps)
        return np.array([+v for v in n], dtype=object), np.array([+v for v in w], dtype=object), None

    def power(self, x, y):
        return self._power(x, y)

    def betainc(self, a, b, x):
        return self._betainc(a, b, x)

    @staticmethod
    def gammaln(x):
        return _ufunc(mp.loggamma)(x)

    def ndtr(self, x):
        return self._ndtr(x)

    def log_ndtr(self, x):
        return _ufunc(lambda v: mp.log(mp.ncdf(v)))(x)

    def to_float(self, x):
        return np.asarray(self._to_float(x), dtype=float)

    @staticmethod
    def _omen(z):
        if z > 0.25:
            return 1 - mp.exp(-z)
        if z == 0:
            return mp.mpf(0)
        # small z: 1 - e^-z by its alternating series (z <= 1/4: ~dps/0.6 terms at most)
        term, acc, k = z, z, 1
        eps = mp.eps * abs(z)
        while abs(term) > eps:
            k += 1
            term = -term * z / k
            acc += term
        return acc

    def one_minus_exp_neg(self, z):
        """1 - e^(-z) = -expm1(-z) (series below 1/4; mpmath's expm1 is slow)."""
        return np.frompyfunc(self._omen, 1, 1)(z)

    @staticmethod
    def fsum(x, axis=None):
        return np.sum(x, axis=axis)


NP = _NumpyBackend()
MP = _MpmathBackend()


def backend(name: str):
    if name in ("numpy", "np", "fast"):
        return NP
    if name in ("mpmath", "mp"):
        return MP
    raise ValueError(f"unknown backend {name!r}")


# --------------------------------------------------------------------------------------------
# Panels
# --------------------------------------------------------------------------------------------

def panel_breaks(lo: float, hi: float, *, fine: tuple[float, float], h: float,
                 growth: float = 1.35, h_max: float = math.inf) -> np.ndarray:
    """Breakpoints covering [lo, hi]: width <= h inside [fine0, fine1], growing geometrically
    (ratio ``growth``, capped at h_max) away from it. Returns float64 breakpoints."""
    if not hi > lo:
        return np.array([lo, lo])
    f0, f1 = max(lo, fine[0]), min(hi, fine[1])
    pts = []
    if f1 > f0:
        k = max(1, math.ceil((f1 - f0) / h))
        pts.extend(np.linspace(f0, f1, k + 1).tolist())
    else:
        f0 = f1 = min(max(lo, fine[0]), hi)
        pts.append(f0)
    # grow upward
    x, w = f1, h
    while x < hi:
        w = min(w * growth, h_max)
        x = min(x + w, hi)
        pts.append(x)
    x, w = f0, h
    while x > lo:
        w = min(w * growth, h_max)
        x = max(x - w, lo)
        pts.insert(0, x)
    return np.unique(np.array(pts, dtype=float))


def map_panels(bk, a, b, q: int, lo: float, hi: float, lo_power: bool, hi_power: bool):
    """Gauss-Legendre nodes X and weights W ([..., q]) on the panels [a, b] (float64 arrays).

    Where the support has a power-law end (density ~ (x - lo)^(a-1), 2a an integer), panels are
    mapped through xi = sqrt(x - lo) (lower half of the support) or sqrt(hi - x) (upper half):
    in xi the density times the Jacobian 2 xi is a polynomial, so every panel, including those
    adjacent to the end, is integrated with spectral accuracy (a plain panel next to an end
    converges only algebraically fast). Empty panels (b <= a) get zero weights."""
    t, wt, _ = bk.gl(q)
    a = np.asarray(a, float)
    b = np.maximum(np.asarray(b, float), a)
    shape = a.shape
    af, bf = a.reshape(-1), b.reshape(-1)
    use_lo = np.zeros(af.shape, bool)
    use_hi = np.zeros(af.shape, bool)
    if lo_power and math.isfinite(lo):
        use_lo = np.ones(af.shape, bool)
        if hi_power and math.isfinite(hi):
            use_lo = 0.5 * (af + bf) <= 0.5 * (lo + hi)
    if hi_power and math.isfinite(hi):
        use_hi = ~use_lo
    A = bk.asarray(af)[:, None]
    B = bk.asarray(bf)[:, None]
    T = t[None, :]
    X = A + (B - A) * T
    J = (B - A) + 0 * T
    if use_lo.any():
        lo_b = bk.const(lo)
        xa, xb = bk.sqrt(A - lo_b), bk.sqrt(B - lo_b)
        xi = xa + (xb - xa) * T
        Xl, Jl = lo_b + xi * xi, 2 * xi * (xb - xa)
        m = np.broadcast_to(use_lo[:, None], Xl.shape)
        X, J = np.where(m, Xl, X), np.where(m, Jl, J)
    if use_hi.any():
        hi_b = bk.const(hi)
        ea, eb = bk.sqrt(hi_b - A), bk.sqrt(hi_b - B)
        eta = ea + (eb - ea) * T
        Xh, Jh = hi_b - eta * eta, 2 * eta * (ea - eb)
        m = np.broadcast_to(use_hi[:, None], Xh.shape)
        X, J = np.where(m, Xh, X), np.where(m, Jh, J)
    W = J * wt[None, :]
    return X.reshape(*shape, q), W.reshape(*shape, q)


def window_rule(bk, centers, offsets, q: int, lo: float, hi: float,
                lo_power: bool, hi_power: bool, cut_hi=None):
    """Nodes X and weights W ([N, P*q]) for int over [c + offsets[0], c + offsets[-1]] cut to
    [lo, hi] (and to <= cut_hi[i] when given), for every center c (panels of map_panels)."""
    centers_f = np.asarray(bk.to_float(centers), dtype=float)
    offsets = np.asarray(offsets, dtype=float)
    N, P = centers_f.shape[0], offsets.shape[0] - 1
    a = centers_f[:, None] + offsets[None, :-1]
    b = centers_f[:, None] + offsets[None, 1:]
    upper = np.full(N, hi) if cut_hi is None else np.minimum(hi, np.asarray(cut_hi, float))
    a_c = np.clip(a, lo, upper[:, None])
    b_c = np.clip(b, lo, upper[:, None])
    X, W = map_panels(bk, a_c, b_c, q, lo, hi, lo_power, hi_power)
    return X.reshape(N, P * q), W.reshape(N, P * q)
