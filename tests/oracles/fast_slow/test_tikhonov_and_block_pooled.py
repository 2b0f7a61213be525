"""oracles/fast_slow/tikhonov.py (the RK4 instrument) and block_pooled.py."""

import math

from attnspec.oracles.fast_slow import block_pooled, tikhonov, two_state
from attnspec.oracles.fast_slow import master_equation as me
from mpmath import mp


def test_rk4_on_frozen_slow_variable_matches_the_exact_relaxation():
    # g = 0 freezes y: x_1(t) = p_1 + (x_1(0) - p_1) exp(-(a + b) t / eps), exactly.
    # RK4 with h (a + b)/eps = 2.4/16 per step: relative error per unit decay ~ (0.15)^4/120
    eps, y = 0.01, 0.7
    a, b = 1 + math.sin(y) / 2, 1 + math.cos(y) / 2
    traj = tikhonov.integrate(two_state.rate_matrix_float, lambda x, y: 0.0, eps, [1.0, 0.0], y,
                              0.05, 16, 50)
    for t, x in zip(traj.t, traj.x):
        exact = b / (a + b) + (1 - b / (a + b)) * math.exp(-(a + b) * t / eps)
        assert abs(x[0] - exact) < 1e-6
        assert abs(x[0] + x[1] - 1) < 1e-14  # Q has zero row sums: mass is conserved


def test_layer_width_and_slope_helpers():
    assert math.isclose(tikhonov.layer_width(0.01, 2.0), 0.01 * math.log(100) / 2)
    assert math.isclose(tikhonov.log_slope([1, 2, 4], [3, 6, 12]), 1.0)


def test_tracking_error_mpmath_and_closed_form_paths_agree():
    traj = tikhonov.integrate(two_state.rate_matrix_float, two_state.drift_float, 0.025,
                              [0.56, 0.44], 0.3, 1.0, 16, 20)
    w = tikhonov.layer_width(0.025, 1.29)
    a = tikhonov.tracking_error(traj, two_state.rate_matrix, two_state.drift, w, dps=25)
    b = tikhonov.tracking_error(traj, None, None, w, closed_forms=two_state.closed_forms_columns)
    assert abs(a.error - b.error) < 1e-14 and abs(a.corrected - b.corrected) < 1e-14


def test_discrete_corrector_is_psi_over_tau():
    with mp.workdps(30):
        psi = me.corrector(two_state.rate_matrix, 1.1, 0.8, 30)
        d = block_pooled.discrete_corrector(two_state.rate_matrix, 1.1, 0.8, 0.25, 30)
        assert mp.norm(d - 4 * psi) < mp.mpf(10) ** -25
        assert block_pooled.predicted_error(two_state.rate_matrix, 1.1, 0.8, 0.25, 100) == abs(d[0]) / 100
    assert block_pooled.settling_tokens(1024, 0.5) == math.ceil(2 * math.log(1024) / math.log(2))
