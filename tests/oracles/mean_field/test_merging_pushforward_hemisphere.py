"""merging.py, pushforward.py, hemisphere.py."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from attnspec.oracles.mean_field.energy import features, logits
from attnspec.oracles.mean_field.hemisphere import in_open_hemisphere, wendel_probability
from attnspec.oracles.mean_field.merging import merging_sides
from attnspec.oracles.mean_field.model import Model
from attnspec.oracles.mean_field.pushforward import offset_bound



@pytest.mark.parametrize("kind", ["plain", "logit_pe", "additive", "prompt"])
@settings(max_examples=5, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1))
def test_merging_identity_is_exact(states, kind, seed):
    random_model, unit_rows = states.random_model, states.unit_rows
    rng = np.random.default_rng(seed)
    model = random_model(kind, rng, 4, 3, beta=1.3)
    for name in ("z", "prompts"):  # tokens 0 and 2 share their auxiliary variables
        aux = getattr(model, name)
        if aux is not None:
            aux[2] = aux[0]
    x = unit_rows(rng, 4, 3)
    left, right = merging_sides(x, model, 0, 2)
    # both sides in mpmath at 40 digits from the same float64 state: agreement to 1e-30 of E
    assert right >= 0
    assert abs(left - right) <= 1e-30 * float(np.exp(logits(x, model)).sum())


@settings(max_examples=20, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), c=st.floats(1.0, 6.0), beta=st.floats(0.2, 3.0))
def test_offset_bound_bounds_the_residual_at_any_state(states, seed, c, beta):
    unit_rows = states.unit_rows
    """|r_i| <= rho_i for arbitrary unit x (r_i = sum_(j != i) a_ij (h_j - h_i), SA weights)."""
    rng = np.random.default_rng(seed)
    n, d = 5, 3
    model = Model("additive", beta, z=unit_rows(rng, n, d), C=c * np.eye(d))
    x = unit_rows(rng, n, d)
    h = features(x, model)
    L = logits(x, model)
    a = np.exp(L - L.max(axis=-1, keepdims=True))
    a /= a.sum(axis=-1, keepdims=True)
    r = np.einsum("ij,ijd->id", a, h[None, :, :] - h[:, None, :])
    assert np.all(np.linalg.norm(r, axis=-1) <= offset_bound(model.z, model.C, beta) * (1 + 1e-12))


def test_wendel_exact_values():
    assert wendel_probability(3, 3) == 1 and wendel_probability(4, 3) == wendel_probability(4, 3)
    assert wendel_probability(4, 3) == pytest.approx(7 / 8)
    assert wendel_probability(2, 1) == pytest.approx(1 / 2)
    assert wendel_probability(10, 3) == pytest.approx((1 + 9 + 36) / 512)


def test_wendel_against_monte_carlo(states):
    unit_rows = states.unit_rows
    """N = 300 uniform 6-point sets on S^2 (seed 2026): fraction in an open hemisphere against
    P(6, 3) = 26/32, z-test at false-alarm rate 1e-6 (|z| < 4.89)."""
    rng = np.random.default_rng(2026)
    N = 300
    hits = np.array([in_open_hemisphere(unit_rows(rng, 6, 3)) for _ in range(N)], float)
    p = float(wendel_probability(6, 3))
    z = (hits.mean() - p) / math.sqrt(p * (1 - p) / N)
    assert abs(z) < 4.89
