"""The fast-slow ODE and the discrete block-pooled analogue against the master equation.

Default run: eps in {0.025, 0.0125, 0.00625} and P in {256, 512, 1024, 2048}; long run: eps
down to 1/1024 with the RK4 step-halving error, and P up to 8192.
"""

import itertools

import pytest
from attnspec.properties.fast_slow import tracking


def check_ode(found):
    assert 0.99 <= found.slope <= 1.01, found  # the band (tracking.py docstring)
    for eps, err, psi, ratio in zip(found.scales, found.errors, found.predicted,
                                    found.corrected_ratio):
        # |sup|x - p| - eps sup|psi|| <= sup|x - p - eps psi| (triangle inequality, exact)
        assert abs(err - eps * psi) <= ratio * err * (1 + 1e-12)
        assert ratio <= 0.5  # the corrector at least halves the residual


def test_ode_tracking_slope_and_corrector():
    check_ode(tracking.ode_tracking())


def test_initial_layer():
    on = tracking.ode_tracking((0.025, 0.0125))
    # c2: the measured second-order coefficient, corrected residual / eps^2 (max over eps)
    c2 = max(r * e / s**2 for r, e, s in zip(on.corrected_ratio, on.errors, on.scales))
    for eps in (0.025, 0.0125):
        found = tracking.initial_layer(eps, c2)
        assert found.error_at_start > found.bound  # the layer is there to be crossed
        assert found.error_after <= found.bound, found


def check_discrete(found):
    assert -1.01 <= -found.slope <= -0.99, found  # slope against log(1/P); issue's band
    assert all(r <= 0.5 for r in found.corrected_ratio), found
    gaps = [abs(l - p) for l, p in zip(found.leading, found.predicted)]
    # P sup err -> sup|psi_d|: the gap is O(1/P) (the O(1/P^2) remainder, times P), so it
    # must shrink at every doubling of P (by ~2; 1.5 allows the remainder's own variation)
    assert all(a / b >= 1.5 for a, b in itertools.pairwise(gaps)), gaps


def test_discrete_analogue_slope_and_corrector():
    check_discrete(tracking.discrete_tracking((256, 512, 1024, 2048)))


@pytest.mark.long
def test_ode_tracking_long():
    found = tracking.ode_tracking((0.025, 0.0125, 0.00625, 0.003125, 0.0015625, 1 / 1024))
    check_ode(found)
    assert tracking.integration_error(0.025) < 1e-6  # RK4 step halving: far below the O(eps) effects
    assert tracking.integration_error(1 / 1024) < 1e-6


@pytest.mark.long
def test_discrete_analogue_long():
    check_discrete(tracking.discrete_tracking((512, 1024, 2048, 4096, 8192)))
