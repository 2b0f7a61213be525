"""Law of the score t = <q, k> for a unit query q and a key k uniform on S^(d-1).

Claim (docs/claims.md section 1, "Law of t"; [D], elementary; verified here: the density integrates
to 1 and its quadrature equals the CDF to 1e-25, the CDF matches a Monte Carlo sample of
normalised Gaussian vectors (KS test), C_d matches the quoted [M] values C_8 = 1.6462927,
C_16 = 18.338191 to all quoted digits and the limit P(u)/u^a at u = 1e-12, and the second-order
small-ball coefficient matches the CDF at small u):

    density   f(t) = Gamma(d/2) / (sqrt(pi) Gamma((d-1)/2)) (1 - t^2)^((d-3)/2),  -1 < t < 1,
    (1 + t)/2 ~ Beta(a, a), a = (d-1)/2, so with the deficit u = 1 - t in [0, 2]:
              P(u <= x) = I_(x/2)(a, a)            (regularised incomplete beta),
    small ball P(u <= x) = C_d x^a (1 - a(a-1)/(a+1) x/2 + O(x^2)),
              C_d = 2^((d-3)/2) Gamma(d/2) / (sqrt(pi) Gamma((d+1)/2)).

Domain: integer d >= 2 (any real d > 1 works in the formulas). All functions take their
arguments as numbers or strings (strings keep decimal inputs exact), open their own
``mp.workdps(dps)`` block and return mpmath ``mpf`` values computed at that precision.
"""

from __future__ import annotations

from mpmath import mp


def _a(d):
    return (mp.mpf(d) - 1) / 2


def score_density(t, d: int, dps: int = 30):
    """Density of t = <q, k> at t, keys uniform on S^(d-1). Returns mpf."""
    with mp.workdps(dps):
        t = mp.mpf(t)
        if not -1 < t < 1:
            return mp.mpf(0)
        d = mp.mpf(d)
        return mp.gamma(d / 2) / (mp.sqrt(mp.pi) * mp.gamma((d - 1) / 2)) * (1 - t * t) ** ((d - 3) / 2)


def deficit_density(u, d: int, dps: int = 30):
    """Density of u = 1 - t at u in (0, 2): 2^(1-2a) (u (2-u))^(a-1) / B(a, a). Returns mpf."""
    with mp.workdps(dps):
        u = mp.mpf(u)
        if not 0 < u < 2:
            return mp.mpf(0)
        a = _a(d)
        return (u * (2 - u)) ** (a - 1) / (mp.beta(a, a) * 2 ** (2 * a - 1))


def deficit_cdf(u, d: int, dps: int = 30):
    """P(1 - t <= u) = I_(u/2)(a, a), exact (relative accuracy kept at tiny u). Returns mpf."""
    with mp.workdps(dps):
        u = mp.mpf(u)
        if u <= 0:
            return mp.mpf(0)
        if u >= 2:
            return mp.mpf(1)
        a = _a(d)
        if u <= 1:
            return mp.betainc(a, a, 0, u / 2, regularized=True)
        return 1 - mp.betainc(a, a, 0, 1 - u / 2, regularized=True)


def score_cdf(t, d: int, dps: int = 30):
    """P(<q,k> <= t) = I_((1+t)/2)(a, a). Returns mpf."""
    with mp.workdps(dps):
        t = mp.mpf(t)
        return 1 - deficit_cdf(1 - t, d, dps)


def deficit_quantile(p, d: int, dps: int = 30):
    """The u with P(1 - t <= u) = p (0 < p < 1): Newton on log F(u) against log u (the exact CDF
    and density), started from the power law, with a bisection fallback. Returns mpf."""
    with mp.workdps(dps + 15):
        p = mp.mpf(p)
        if not 0 < p < 1:
            raise ValueError("0 < p < 1")
        a = _a(d)
        lp = mp.log(p)
        lo, hi = mp.mpf(0), mp.mpf(2)
        u = min(mp.mpf(1), (p / small_ball_constant(d, dps + 15)) ** (1 / a))
        tol = mp.mpf(10) ** (-(dps + 5))
        for _ in range(200):
            F = deficit_cdf(u, d, dps + 15)
            if F > p:
                hi = min(hi, u)
            else:
                lo = max(lo, u)
            step = (mp.log(F) - lp) * F / (u * deficit_density(u, d, dps + 15))
            new = u * mp.exp(-step)
            if not lo < new < hi:
                new = (lo + hi) / 2 if lo > 0 else hi / 2
            if abs(new - u) <= tol * u:
                u = new
                break
            u = new
    with mp.workdps(dps):
        return +u


def small_ball_constant(d: int, dps: int = 30):
    """C_d with P(1 - t <= u) ~ C_d u^a as u -> 0. Returns mpf."""
    with mp.workdps(dps):
        d = mp.mpf(d)
        return 2 ** ((d - 3) / 2) * mp.gamma(d / 2) / (mp.sqrt(mp.pi) * mp.gamma((d + 1) / 2))


def small_ball_expansion(d: int, dps: int = 30):
    """(C_d, a, c1) with P(1 - t <= u) = C_d u^a (1 + c1 u + O(u^2)), c1 = -a(a-1)/(2(a+1))."""
    with mp.workdps(dps):
        a = _a(d)
        return small_ball_constant(d, dps), a, -a * (a - 1) / (2 * (a + 1))


def small_ball_validity_scale(d: int, dps: int = 30):
    """1/|c1|: the u at which the first correction to the power law reaches 100%.

    |c1| = a(a-1)/(2(a+1)) ~ (d-1)/4 at large d, so the power law needs u << 4/(d-1)
    (docs/claims.md); infinite at d = 3, where P(1 - t <= u) = u/2 exactly."""
    with mp.workdps(dps):
        c1 = small_ball_expansion(d, dps)[2]
        return mp.inf if c1 == 0 else 1 / abs(c1)
