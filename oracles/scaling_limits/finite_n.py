"""Exact finite-n expectations of softmax weights over n i.i.d. keys (any score law, any beta).

Claim (docs/claims.md section 1, "Exact finite-n oracles"; [D]; verified here: against docs/claims.md's
formulas implemented literally and independently (E W_max for d = 3, 8, 16 and E IPR for d = 3,
to 1e-12), against brute-force quadrature for n = 2 (d = 8) to 3e-13, against an independent two-dimensional formula with the
Ein function for d = 3 (n = 10 ... 1000) to 1e-16, against the Poisson limit at large n (error
shrinking like n^(-2/(d-1))), against Monte Carlo from the streaming kernel within the stated
statistical tolerance, and the mpmath backend against the float64 backend):

  For keys with i.i.d. deficits u_i (weights w_i = e^(-beta u_i) / sum_j e^(-beta u_j)) and energy
  law P of x = beta u:

    E W_max^m = n/Gamma(m) int dP(v) int_0^inf dr r^(m-1) e^(-r) [1 - P(x <= v) - chi_+(r, v)]^(n-1),
        chi_+(r, v) = int_(x > v) (1 - exp(-r e^(-(x - v)))) dP(x);
    this is docs/claims.md's formula (outer variable x = n P(x <= v), and chi in the by-parts form
    int [F(t - w/beta) - F(t)] u e^(-w) exp(-u e^(-w)) dw).

    E sum_i w_i^m f(u_i) = n/Gamma(m) int_0^inf ds s^(m-1) E[f(u) e^(-m beta u) e^(-s e^(-beta u))]
                           (E e^(-s e^(-beta u)))^(n-1)
    (m = 2, f = 1: E IPR; this two-dimensional form is equivalent to docs/claims.md's
    int_0^n dx int dv v e^(-v) [1 - E h(t_x, v)]^(n-1) after s = v e^(beta u_1)), and
    E sum_(i != j) w_i w_j f(u_i) g(u_j) = n(n-1) int ds s E[f ...] E[g ...] (E e^(-s e^(-beta u)))^(n-2).

  Powers are evaluated as exp((n-1) log1p(-.)) with the bracket's complement computed as a sum of
  non-negative integrals (no cancellation), so n up to 1e15 and beyond is fine.

Output moments (identity values, q = e_1, u = 1 - <q,k>): <q,y> = 1 - sum_i w_i u_i;
|y - <q,y> q|^2 has mean E sum_i w_i^2 u_i (2 - u_i) exactly (the tangent directions of distinct
keys are independent and uniform), so each of the d - 1 tangent coordinates has variance
E sum_i w_i^2 u_i (2 - u_i) / (d - 1); Var <q,y> = E sum w_i^2 u_i^2 + E sum_(i!=j) w_i w_j u_i u_j
- (E sum w_i u_i)^2, evaluated after centring u at E sum w_i u_i (no cancellation).

Domain: n >= 1 (real n > 1 allowed), beta > 0, any ``law`` of key_laws.py (default uniform on
S^(d-1)); another i.i.d. score law is a key_laws.DeficitLaw subclass giving pdf_u and cdf_u of the
deficit u = (top score) - score on both backends, its support [u_lo, u_hi] and whether each end
is a power-law end (lo_power / hi_power). mpmath backend: value good to about 1e-15 relative at the default resolution (20 digits
working precision); numpy backend: about 1e-12.
"""

from __future__ import annotations

from mpmath import mp

from attnspec.oracles.scaling_limits import functionals as F
from attnspec.oracles.scaling_limits._numerics import MP, NP
from attnspec.oracles.scaling_limits.key_laws import DeficitLaw, UniformSphere


def _law(d, law):
    if law is None:
        if d is None:
            raise ValueError("give d or law")
        return UniformSphere(d)
    return law


def _run(backend, dps, fn):
    if backend == "numpy":
        return fn(NP)
    with mp.workdps(dps):
        v = fn(MP)
    return v


def _meas(law, beta, n, bk):
    if bk is NP:
        return F.finite_measure(law, float(beta), float(n))
    return F.finite_measure(law, mp.mpf(beta), mp.mpf(n))


def expected_wmax(n, beta, d: int | None = None, *, law: DeficitLaw | None = None, moment=1,
                  backend: str = "mpmath", dps: int = 20,
                  resolution: F.Resolution = F.Resolution()):
    """Exact E W_max^moment for n i.i.d. keys at inverse temperature beta. Returns mpf or float."""
    law = _law(d, law)

    def fn(bk):
        v = F.max_functional(_meas(law, beta, n, bk), bk, moment, resolution)
        return float(v) if bk is NP else +v
    return _run(backend, dps, fn)


def expected_weight_sum(n, beta, m, f=None, d: int | None = None, *, law: DeficitLaw | None = None,
                        backend: str = "mpmath", dps: int = 20,
                        resolution: F.Resolution = F.Resolution()):
    """Exact E sum_i w_i^m f(u_i); ``f(bk, u)`` acts elementwise on backend arrays (None: 1)."""
    law = _law(d, law)

    def fn(bk):
        b = bk.const(beta)
        g = None if f is None else (lambda bb, x: f(bb, x / b))
        v = F.sum_functional(_meas(law, beta, n, bk), bk, m, [g], resolution)[0]
        return float(v) if bk is NP else +v
    return _run(backend, dps, fn)


def expected_ipr(n, beta, d: int | None = None, *, law: DeficitLaw | None = None,
                 backend: str = "mpmath", dps: int = 20):
    """Exact E IPR = E sum_i w_i^2."""
    return expected_weight_sum(n, beta, 2, None, d, law=law, backend=backend, dps=dps)


def expected_pair_sum(n, beta, f, g, d: int | None = None, *, law: DeficitLaw | None = None,
                      backend: str = "mpmath", dps: int = 20):
    """Exact E sum_(i != j) w_i w_j f(u_i) g(u_j)."""
    law = _law(d, law)

    def fn(bk):
        b = bk.const(beta)
        ff = lambda bb, x: f(bb, x / b)
        gg = lambda bb, x: g(bb, x / b)
        v = F.pair_functional(_meas(law, beta, n, bk), bk, [(ff, gg)])[0]
        return float(v) if bk is NP else +v
    return _run(backend, dps, fn)


def output_moments(n, beta, d: int, *, backend: str = "mpmath", dps: int = 20) -> dict:
    """Exact output moments for identity values, keys uniform on S^(d-1), q = e_1.

    Returns dict: ``mean_along_q`` E<q,y>; ``mean_deficit`` E[1 - <q,y>] = E sum w_i u_i;
    ``var_along_q`` Var <q,y>; ``tangent_var`` the variance of each tangent coordinate
    (E sum w_i^2 u_i(2-u_i)/(d-1)); ``ipr`` E sum w_i^2."""
    law = UniformSphere(d)

    def fn(bk):
        meas = _meas(law, beta, n, bk)
        b = bk.const(beta)
        u = lambda bb, x: x / b
        tan = lambda bb, x: (x / b) * (2 - x / b)
        m1, = F.sum_functional(meas, bk, 1, [u])
        # centre at m1 before squaring (sum_i w_i = 1): Var = E[(sum_i w_i (u_i - m1))^2] - (E..)^2
        # has no cancellation, unlike E[(sum w u)^2] - m1^2
        cen = lambda bb, x: x / b - m1
        cc = lambda bb, x: (x / b - m1) * (x / b - m1)
        ipr, m2cc, m2tan = F.sum_functional(meas, bk, 2, [None, cc, tan])
        m1c, = F.sum_functional(meas, bk, 1, [cen])
        pair, = F.pair_functional(meas, bk, [(cen, cen)])
        out = {"mean_deficit": m1, "mean_along_q": 1 - m1, "var_along_q": m2cc + pair - m1c * m1c,
               "tangent_var": m2tan / (d - 1), "ipr": ipr}
        if bk is NP:
            out = {k: float(v) for k, v in out.items()}
        return out
    return _run(backend, dps, fn)


def laplace_normaliser(n, beta, s, d: int | None = None, *, law: DeficitLaw | None = None,
                       backend: str = "numpy", dps: int = 20):
    """E exp(-s D), D = sum_i e^(-beta u_i) (the normaliser), exact: (E e^(-s e^(-beta u)))^n."""
    law = _law(d, law)
    return _run(backend, dps, lambda bk: F.laplace_normaliser(_meas(law, beta, n, bk), bk, s))
