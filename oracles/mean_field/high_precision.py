"""A high-precision integrator of the token flows for small n (mpmath's Taylor-series ODE solver).

Claim: the exact flow of model.py / energy.py, solved by ``mpmath.odefun`` (a Taylor method whose
degree and step are chosen for the working precision), with the vector field evaluated in
mpmath at ``dps`` digits. [D] The solver's own error is controlled to the working precision
(mpmath's documentation); tests/oracles/mean_field checks it against a convergent RK4 and the
energy identity. Domain: n d up to ~20 unknowns (it takes seconds per unit of time at n = 3,
d = 3, dps = 30). The energy of the solution is returned at the same precision.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np

from attnspec.oracles.mean_field.model import Model


def _dot(a, b):
    return mp.fsum(p * q for p, q in zip(a, b))


def _vector_field(model: Model, n: int, d: int):
    beta = mp.mpf(model.beta)
    z = None if model.z is None else [[mp.mpf(float(t)) for t in row] for row in model.z]
    C = None if model.C is None else [[mp.mpf(float(t)) for t in row] for row in model.C]
    P = None if model.prompts is None else [[mp.mpf(float(t)) for t in row] for row in model.prompts]
    gamma, lam = mp.mpf(model.gamma), mp.mpf(model.lam)

    def field(_t, y):
        X = [y[i * d:(i + 1) * d] for i in range(n)]
        if model.kind == "additive":
            U = [[X[i][k] + mp.fsum(C[k][m] * z[i][m] for m in range(len(z[i]))) for k in range(d)]
                 for i in range(n)]
        else:
            U = X
        out = []
        for i in range(n):
            L = [beta * _dot(U[i], U[j]) for j in range(n)]
            if model.kind == "logit_pe":
                L = [L[j] + gamma * _dot(z[i], z[j]) for j in range(n)]
            w = [mp.exp(t) for t in L]
            g = [mp.fsum(w[j] * U[j][k] for j in range(n)) for k in range(d)]
            Z = mp.fsum(w)
            if model.kind == "prompt":
                wp = n * lam * mp.exp(beta * _dot(X[i], P[i]))
                g = [g[k] + wp * P[i][k] for k in range(d)]
                Z += wp
            r = _dot(X[i], g)
            scale = Z if model.normalisation == "SA" else mp.mpf(n)
            out += [(g[k] - r * X[i][k]) / scale for k in range(d)]
        return out

    return field


def integrate(x0: np.ndarray, model: Model, times, dps: int = 30) -> list[list[list]]:
    """The exact flow from x0 [n, d] (rows are normalised in mpmath first) at each of ``times``
    (increasing, >= 0): a list over times of [n][d] mpf values."""
    x0 = np.asarray(x0, np.float64)
    n, d = x0.shape
    with mp.workdps(dps):
        y0 = []
        for row in x0:
            v = [mp.mpf(float(t)) for t in row]
            s = mp.sqrt(_dot(v, v))
            y0 += [t / s for t in v]
        solution = mp.odefun(_vector_field(model, n, d), 0, y0)
        states = []
        for t in times:
            y = solution(mp.mpf(t))
            states.append([[+y[i * d + k] for k in range(d)] for i in range(n)])
    return states


def energy_mp(x, model: Model, dps: int = 30):
    """E of energy.py at x ([n][d] mpf or floats) in mpmath at ``dps`` digits."""
    with mp.workdps(dps):
        X = [[mp.mpf(t) for t in row] for row in x]
        n, d = len(X), len(X[0])
        beta = mp.mpf(model.beta)
        if model.kind == "additive":
            U = [[X[i][k] + mp.fsum(mp.mpf(float(model.C[k][m])) * mp.mpf(float(model.z[i][m]))
                                    for m in range(model.z.shape[1])) for k in range(d)] for i in range(n)]
        else:
            U = X
        total = mp.mpf(0)
        for i in range(n):
            for j in range(n):
                L = beta * _dot(U[i], U[j])
                if model.kind == "logit_pe":
                    L += mp.mpf(model.gamma) * _dot([mp.mpf(float(t)) for t in model.z[i]],
                                                    [mp.mpf(float(t)) for t in model.z[j]])
                total += mp.exp(L)
        E = total / (2 * beta)
        if model.kind == "prompt":
            for i in range(n):
                p = [mp.mpf(float(t)) for t in model.prompts[i]]
                E += n * mp.mpf(model.lam) * mp.exp(beta * _dot(X[i], p)) / beta
        return +E
