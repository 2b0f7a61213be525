"""The two-state example of docs/claims.md section 4, with its closed forms.

Claims ([D], elementary; the example of the claims card): rates a(y) = 1 + sin(y)/2 (state 1 to
state 2) and b(y) = 1 + cos(y)/2 (state 2 to state 1), so

    Q(y) = [[-a, a], [b, -b]],  p_st(y) = (b, a) / (a + b),
    g(x, y) = 1 + (x_1 - x_2)/2  (the slow drift),
    psi(y) = (-1, 1) p_1'(y) g(p_st(y), y) / (a + b),  p_1' = (a b' - a' b) / (a + b)^2,

the last from Q^T psi = p_st' g with psi_1 + psi_2 = 0 ((Q^T psi)_1 = -(a + b) psi_1).
These closed forms check master_equation.py, which knows nothing of this example. The fast
rates are >= 2 - 1/sqrt(2) = 1.2929 (the minimum of a + b), the decay rate of a deviation
from the manifold in fast time.

Domain: any real y. mpmath at ``dps`` digits; rate_matrix and drift also accept floats.
"""

from __future__ import annotations

from mpmath import mp

MIN_TOTAL_RATE = 2 - 1 / mp.sqrt(2)  # min over y of a(y) + b(y)


def rates(y):
    """(a(y), b(y)) in the working precision of y's type (mpf or float via mp)."""
    return 1 + mp.sin(y) / 2, 1 + mp.cos(y) / 2


def rate_matrix(y):
    """Q(y) = [[-a, a], [b, -b]] (rows sum to 0; irreducible since a, b >= 1/2)."""
    a, b = rates(y)
    return mp.matrix([[-a, a], [b, -b]])


def drift(x, y):
    """g(x, y) = 1 + (x_1 - x_2)/2 for a 2-vector x (any indexable)."""
    return 1 + (x[0] - x[1]) / 2


def stationary_closed_form(y, dps: int = 50):
    """p_st(y) = (b, a)/(a + b) ([2] column)."""
    with mp.workdps(dps):
        a, b = rates(mp.mpf(y))
        return mp.matrix([b / (a + b), a / (a + b)])


def corrector_closed_form(y, dps: int = 50):
    """psi(y) = (-1, 1) p_1'(y) g(p_st(y), y) / (a + b) ([2] column)."""
    with mp.workdps(dps):
        y = mp.mpf(y)
        a, b = rates(y)
        da, db = mp.cos(y) / 2, -mp.sin(y) / 2
        dp1 = (db * (a + b) - b * (da + db)) / (a + b) ** 2  # d/dy of b/(a + b)
        g = drift([b / (a + b), a / (a + b)], y)
        psi1 = -dp1 * g / (a + b)
        return mp.matrix([psi1, -psi1])


def closed_forms_float64(y, v=None):
    """(p_st_1(y), psi_1(y, v)) in float64 numpy for arrays y (and slow velocities v; default
    the manifold's g(p_st(y), y)); p_st_2 = 1 - p_st_1 and psi_2 = -psi_1. For long
    trajectories, where an mpmath call per sample would dominate: checked against the mpmath
    forms above in tests/oracles/fast_slow (agreement to ~1e-15)."""
    import numpy as np

    y = np.asarray(y, dtype=np.float64)
    a, b = 1 + np.sin(y) / 2, 1 + np.cos(y) / 2
    da, db = np.cos(y) / 2, -np.sin(y) / 2
    p1 = b / (a + b)
    dp1 = (a * db - da * b) / (a + b) ** 2
    if v is None:
        v = 1 + (2 * p1 - 1) / 2
    psi1 = -dp1 * np.asarray(v, dtype=np.float64) / (a + b)
    return p1, psi1


def closed_forms_columns(y):
    """closed_forms_float64 as [samples, 2] arrays (p_st, psi), the shape
    tikhonov.tracking_error takes."""
    import numpy as np

    p1, psi1 = closed_forms_float64(y)
    return np.stack([p1, 1 - p1], axis=-1), np.stack([psi1, -psi1], axis=-1)


def rate_matrix_float(y: float):
    """Q(y) as nested Python floats, for tikhonov.integrate."""
    import math

    a, b = 1 + math.sin(y) / 2, 1 + math.cos(y) / 2
    return [[-a, a], [b, -b]]


def drift_float(x, y) -> float:
    """g(x, y) for Python floats."""
    return 1 + (x[0] - x[1]) / 2
