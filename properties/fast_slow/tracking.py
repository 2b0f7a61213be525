"""The fast-slow ODE and its discrete block-pooled analogue, held against the master equation.

Claims (docs/claims.md section 4; [L] Tikhonov-Fenichel, [D] the analogue, [M] measured):

    ode_tracking       eps dx/dt = Q(y)^T x, dy/dt = g(x, y) (the two-state example, y(0) =
                       0.3, x(0) = p_st(0.3), t in [0, 6]): sup_(t >= layer) |x - p_st(y)| =
                       eps sup|psi| + O(eps^2): slope of log error against log eps in
                       [0.99, 1.01], error/eps near sup|psi|, and x - p_st - eps psi at most
                       half of x - p_st (the corrector halves the residual)
    initial_layer      from x(0) = (1, 0), off the manifold: after t = eps log(1/eps)/r
                       (tikhonov.layer_width, r = min(a + b)), the error is at most
                       eps (|x(0) - p_st(y(0))| + sup|psi|) + c2 eps^2, c2 the second-order
                       coefficient measured on the manifold (corrected residual / eps^2)
    discrete_tracking  the block-pooled analogue (kernels/fast_slow/discrete_analogue.py)
                       against oracles/fast_slow/block_pooled.py: P sup|x_t - p_st(y_t)| near
                       sup|psi_d(y_t, v_t)|, slope of log error against log(1/P) in
                       [-1.01, -0.99], and the corrector psi_d / P at least halving the
                       residual at settled tokens

The slope band [0.99, 1.01] is the issue's; the theory's next-order term c eps moves the slope
by about c times the range's eps, which the corrected residual measures (c2 ~ 0.2 in the
example, so |slope - 1| ~ 0.005 for eps <= 0.025). The ODE is integrated by
oracles/fast_slow/tikhonov.integrate (RK4, h = eps/16; its step-halving error is reported).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from attnspec.kernels.fast_slow.discrete_analogue import run_analogue
from attnspec.oracles.fast_slow import tikhonov, two_state

Y0, T_END = 0.3, 6.0
MIN_RATE = float(two_state.MIN_TOTAL_RATE)


def _p_st(y):
    p1, _ = two_state.closed_forms_float64(y)
    return [float(p1), 1 - float(p1)]


@dataclass(frozen=True)
class SlopeCheck:
    scales: tuple          # eps (ODE) or P (analogue)
    errors: tuple          # sup tracking error at each
    leading: tuple         # error / eps (ODE) or error * P (analogue)
    predicted: tuple       # sup|psi| (ODE) or sup|psi_d| (analogue) over the same samples
    corrected_ratio: tuple  # corrected residual / uncorrected residual
    slope: float


def ode_tracking(eps_values=(0.025, 0.0125, 0.00625), samples: int = 600,
                 steps_per_eps: int = 16) -> SlopeCheck:
    """Integrate the two-state example on the manifold at each eps and measure (closed-form
    p_st and psi of two_state.py; the sup over samples after the layer width)."""
    errs = []
    for eps in eps_values:
        traj = tikhonov.integrate(two_state.rate_matrix_float, two_state.drift_float, eps,
                                  _p_st(Y0), Y0, T_END, steps_per_eps, samples)
        errs.append(tikhonov.tracking_error(traj, None, None, tikhonov.layer_width(eps, MIN_RATE),
                                            closed_forms=two_state.closed_forms_columns))
    return SlopeCheck(tuple(eps_values), tuple(e.error for e in errs),
                      tuple(e.error / e.eps for e in errs), tuple(e.sup_psi for e in errs),
                      tuple(e.corrected / e.error for e in errs),
                      tikhonov.log_slope(eps_values, [e.error for e in errs]))


def integration_error(eps: float, samples: int = 600, steps_per_eps: int = 16) -> float:
    """|measured error(h) - measured error(h/2)| / measured error(h/2): the relative change of
    the tracking error when the RK4 step is halved (Richardson: the coarse run's error is
    16/15 of it)."""
    out = []
    for k in (steps_per_eps, 2 * steps_per_eps):
        traj = tikhonov.integrate(two_state.rate_matrix_float, two_state.drift_float, eps,
                                  _p_st(Y0), Y0, T_END, k, samples)
        out.append(tikhonov.tracking_error(traj, None, None, tikhonov.layer_width(eps, MIN_RATE),
                                           closed_forms=two_state.closed_forms_columns).error)
    return abs(out[0] - out[1]) / out[1]


@dataclass(frozen=True)
class LayerCheck:
    eps: float
    width: float
    error_after: float      # sup over t >= width of |x - p_st(y)|
    bound: float            # eps (|delta_0| + sup|psi|) + c2 eps^2
    error_at_start: float


def initial_layer(eps: float, c2: float, samples: int = 600) -> LayerCheck:
    """Start off the manifold at x = (1, 0) and hold the error after the layer to the bound."""
    x0 = [1.0, 0.0]
    delta0 = abs(x0[0] - _p_st(Y0)[0])
    traj = tikhonov.integrate(two_state.rate_matrix_float, two_state.drift_float, eps, x0, Y0,
                              T_END, 16, samples)
    width = tikhonov.layer_width(eps, MIN_RATE)
    err = tikhonov.tracking_error(traj, None, None, width, closed_forms=two_state.closed_forms_columns)
    bound = eps * (delta0 + err.sup_psi) + c2 * eps * eps
    return LayerCheck(eps, width, err.error, bound, delta0)


def discrete_tracking(P_values=(64, 128, 256, 512), tau: float = 0.25,
                      blocks: int = 6) -> SlopeCheck:
    """Run the analogue from x = (1, 0), y = 0.3 for ``blocks`` blocks at each P and hold it
    against block_pooled's prediction (closed-form two-state p_st and psi, float64)."""
    from attnspec.oracles.fast_slow.block_pooled import settling_tokens

    contraction = 1 - tau * MIN_RATE  # the largest |eigenvalue| of K(y) besides 1 (two states)
    errs, leading, predicted, corrected = [], [], [], []
    for P in P_values:
        run = run_analogue(two_state.rate_matrix_float, two_state.drift_float, P, tau,
                           [1.0, 0.0], Y0, blocks * P)
        settle = settling_tokens(P, contraction)
        t = np.arange(settle, blocks * P)
        x1 = np.array([run.x[i][0] for i in t])
        y = np.array([run.y[i] for i in t])
        v = np.array([run.v[i] for i in t])
        p1, psi1 = two_state.closed_forms_float64(y, v)
        psi_d = psi1 / tau
        dev = x1 - p1
        settled = (t + 1) % P >= settle  # tokens at least `settle` after v last jumped
        err = float(np.abs(dev).max())
        errs.append(err)
        leading.append(err * P)
        predicted.append(float(np.abs(psi_d).max()))
        corrected.append(float(np.abs(dev - psi_d / P)[settled].max()
                               / np.abs(dev)[settled].max()))
    slope = tikhonov.log_slope([1 / P for P in P_values], errs)
    return SlopeCheck(tuple(P_values), tuple(errs), tuple(leading), tuple(predicted),
                      tuple(corrected), slope)

