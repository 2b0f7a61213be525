"""Tikhonov tracking of the fast-slow system eps dx/dt = Q(y)^T x, dy/dt = g(x, y), measured.

Claim ([L] Tikhonov 1952, Fenichel 1979; docs/claims.md section 4): after an initial layer of
width O(eps log(1/eps)), x(t) = p_st(y(t)) + eps psi(y(t)) + O(eps^2), so the tracking error
sup_t |x - p_st(y)| is eps sup|psi| + O(eps^2): the slope of log error against log eps tends
to 1 and error/eps to sup|psi| along the trajectory.

This module is the measuring instrument, not a closed form: ``integrate`` is the classical
fourth-order Runge-Kutta scheme in float64 with the step h = eps / steps_per_eps in (slow) time,
so that the stiff mode's h |lambda| = (a + b) / steps_per_eps stays in RK4's accurate range for
every eps (a fixed relative accuracy at every eps, hence no bias in a slope). Its error is
stated by step halving (``integration_error``: the change of the measured error when the step
is halved, Richardson's estimate of the coarser run's error). p_st and psi at the sample times
come from master_equation.py (mpmath), never from the integrator.

Domain: Q(y) irreducible rate matrices given as nested sequences of floats, g real-valued,
eps > 0 small enough that eps sup|psi| is the leading term (eps <= 0.025 in the example).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from attnspec.oracles.fast_slow.master_equation import (
    corrector,
    stationary_distribution,
)
from mpmath import mp


@dataclass(frozen=True)
class Trajectory:
    """Samples of one integration: times t, fast states x ([n] each) and slow states y."""

    eps: float
    t: tuple
    x: tuple
    y: tuple


def integrate(Q_of_y: Callable, g: Callable, eps: float, x0: Sequence[float], y0: float,
              t_end: float, steps_per_eps: int = 16, samples: int = 600) -> Trajectory:
    """RK4 for eps dx/dt = Q(y)^T x, dy/dt = g(x, y) on [0, t_end], sampled at ``samples``
    evenly spaced times (and t = 0). Q_of_y(y) returns an n x n nested sequence of floats."""
    n = len(x0)
    h = eps / steps_per_eps
    steps = max(samples, math.ceil(t_end / h / samples) * samples)
    h = t_end / steps
    every = steps // samples

    def rhs(x, y):
        Q = Q_of_y(y)
        dx = [sum(Q[i][j] * x[i] for i in range(n)) / eps for j in range(n)]  # (Q^T x)_j / eps
        return dx, g(x, y)

    x, y = [float(v) for v in x0], float(y0)
    ts, xs, ys = [0.0], [tuple(x)], [y]
    for step in range(1, steps + 1):
        k1x, k1y = rhs(x, y)
        k2x, k2y = rhs([x[i] + h / 2 * k1x[i] for i in range(n)], y + h / 2 * k1y)
        k3x, k3y = rhs([x[i] + h / 2 * k2x[i] for i in range(n)], y + h / 2 * k2y)
        k4x, k4y = rhs([x[i] + h * k3x[i] for i in range(n)], y + h * k3y)
        x = [x[i] + h / 6 * (k1x[i] + 2 * k2x[i] + 2 * k3x[i] + k4x[i]) for i in range(n)]
        y = y + h / 6 * (k1y + 2 * k2y + 2 * k3y + k4y)
        if step % every == 0:
            ts.append(step * h)
            xs.append(tuple(x))
            ys.append(y)
    return Trajectory(eps, tuple(ts), tuple(xs), tuple(ys))


def layer_width(eps: float, min_total_rate: float) -> float:
    """eps log(1/eps) / r: the time after which a deviation of size 1 from the manifold,
    decaying at least like exp(-r t / eps), is below eps [D] (r: the fast mode's slowest rate)."""
    return eps * math.log(1 / eps) / min_total_rate


@dataclass(frozen=True)
class TrackingError:
    """sup over samples with t >= t_from of |x - p_st(y)| (max over components), the same
    after the corrector (|x - p_st - eps psi|), and sup|psi| over those samples."""

    eps: float
    error: float
    corrected: float
    sup_psi: float


def tracking_error(traj: Trajectory, Q_of_y: Callable, g: Callable, t_from: float,
                   dps: int = 30, closed_forms: Callable | None = None) -> TrackingError:
    """Hold a trajectory against p_st and psi at its samples with t >= t_from [L][M]: from
    master_equation.py (mpmath), or from ``closed_forms(y) -> (p_st, psi)`` (float64 arrays
    [samples, n]) where a closed form exists (two_state.closed_forms_float64)."""
    import numpy as np

    keep = [i for i, t in enumerate(traj.t) if t >= t_from]
    x = np.array([traj.x[i] for i in keep])  # [samples, n]
    y = np.array([traj.y[i] for i in keep])
    if closed_forms is not None:
        p, psi = closed_forms(y)
    else:
        with mp.workdps(dps):
            p = np.array([[float(c) for c in stationary_distribution(Q_of_y(mp.mpf(s)), dps)]
                          for s in y])
            psi = np.array([[float(c) for c in corrector(Q_of_y, s, lambda p_, s=s: g(p_, s), dps)]
                            for s in y])
    err = float(np.abs(x - p).max())
    corr = float(np.abs(x - p - traj.eps * psi).max())
    return TrackingError(traj.eps, err, corr, float(np.abs(psi).max()))


def log_slope(eps: Sequence[float], errors: Sequence[float]) -> float:
    """Least-squares slope of log(error) against log(eps)."""
    lx = [math.log(e) for e in eps]
    ly = [math.log(e) for e in errors]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return (sum((a - mx) * (b - my) for a, b in zip(lx, ly))
            / sum((a - mx) ** 2 for a in lx))
