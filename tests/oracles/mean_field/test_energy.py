"""energy.py: the gradient is the derivative of E, and the dissipation identity holds exactly."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from attnspec.oracles.mean_field.energy import (dissipation_rate, energy, energy_rate,
                                                gradient_and_normaliser, tangent, velocity)


KINDS = ["plain", "logit_pe", "additive", "prompt"]


@pytest.mark.parametrize("normalisation", ["SA", "USA"])
@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=10, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 6), beta=st.floats(0.1, 4.0))
def test_gradient_is_the_derivative_and_dissipation_identity(states, kind, normalisation, seed, n, beta):
    random_model, unit_rows = states.random_model, states.unit_rows
    rng = np.random.default_rng(seed)
    d = 3
    model = random_model(kind, rng, n, d, beta, normalisation)
    x = unit_rows(rng, n, d)
    grad, Z = gradient_and_normaliser(x, model)
    # central difference of E along a random direction: truncation O(eps^2 |E'''|) + rounding
    # O(u |E| / eps); eps = 1e-5 makes both ~1e-10 relative to |E| e^(2 beta).
    direction = rng.standard_normal((n, d))
    eps = 1e-5
    fd = (energy(x + eps * direction, model) - energy(x - eps * direction, model)) / (2 * eps)
    scale = float(energy(x, model)) * (1 + 2 * beta) ** 3
    assert abs(fd - np.sum(grad * direction)) <= 1e-8 * scale
    # the identity: <grad E, v> along the exact velocity equals the dissipation rate, which is
    # Z-weighted (SA) or n-weighted (USA); float64 sums of O(n d) terms: 64 n d u relative
    v = velocity(x, model)
    lhs, rhs = energy_rate(x, model, v), dissipation_rate(x, model)
    assert rhs >= 0
    assert abs(lhs - rhs) <= 64 * n * d * 2.2e-16 * (np.sum(np.abs(tangent(x, grad) * v)) + 1e-300)
    # the velocity is tangent
    assert np.max(np.abs(np.sum(v * x, axis=-1))) <= 16 * 2.2e-16 * np.max(np.linalg.norm(grad, axis=-1) / (Z if normalisation == "SA" else n))
