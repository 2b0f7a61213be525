"""high_precision.py: the mpmath integrator against the energy identity and a convergent RK4."""

import mpmath as mp
import numpy as np

from attnspec.oracles.mean_field.energy import dissipation_rate, velocity
from attnspec.oracles.mean_field.high_precision import energy_mp, integrate
from attnspec.oracles.mean_field.model import Model



def _rk4(x, model, T, steps):
    h = T / steps
    for _ in range(steps):
        k1 = velocity(x, model)
        k2 = velocity(x + h / 2 * k1, model)
        k3 = velocity(x + h / 2 * k2, model)
        k4 = velocity(x + h * k3, model)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    return x


def test_against_rk4_and_the_energy_identity(states):
    unit_rows = states.unit_rows
    rng = np.random.default_rng(7)
    x0 = unit_rows(rng, 2, 3)
    model = Model("plain", 2.0, "USA")
    (xT,) = integrate(x0, model, [1.0], dps=20)
    exact = np.array([[float(t) for t in row] for row in xT])
    # RK4 at h = 1/400 and 1/800: the error falls by ~16 (order 4), and at h = 1/800 it is below
    # the Richardson estimate |x_h - x_h/2| / 15 times 2 (observed order >= 3.1) plus rounding
    a, b = _rk4(x0, model, 1.0, 400), _rk4(x0, model, 1.0, 800)
    est = np.max(np.abs(a - b)) / 15
    assert np.max(np.abs(b - exact)) <= 2 * est + 1e-14
    assert np.max(np.abs(a - exact)) / np.max(np.abs(b - exact)) > 8  # order >= 3
    # unit norm to the working precision
    with mp.workdps(20):
        assert max(abs(mp.fsum(t * t for t in row) - 1) for row in xT) < mp.mpf(10) ** -18
    # E(1) - E(0) = integral of the dissipation rate: Simpson on 100 intervals of a fine RK4
    # path (path error ~1e-13), against twice its Richardson error estimate |S_h - S_2h| / 15
    # (valid while the observed order is >= 3.1) plus float64 rounding of E (1e-14 E)
    path = [x0]
    for _ in range(100):
        path.append(_rk4(path[-1], model, 1 / 100, 4))
    D = np.array([dissipation_rate(p, model) for p in path])
    simpson = (1 / 100) / 3 * (D[0] + D[-1] + 4 * D[1:-1:2].sum() + 2 * D[2:-1:2].sum())
    coarse = (2 / 100) / 3 * (D[0] + D[-1] + 4 * D[2:-1:4].sum() + 2 * D[4:-1:4].sum())
    gain = float(energy_mp(xT, model) - energy_mp(x0.tolist(), model))
    assert gain > 0
    ET = float(energy_mp(xT, model))
    assert abs(gain - simpson) <= 2 * abs(simpson - coarse) / 15 + 1e-14 * ET
