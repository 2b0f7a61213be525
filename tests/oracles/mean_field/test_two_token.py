"""two_token.py and diameter_bound.py: the scalar root, its check value, and the bound."""

import math

import mpmath as mp
import numpy as np
import pytest

from attnspec.oracles.mean_field.diameter_bound import diameter_lower_bound, largest_prompt_angle
from attnspec.oracles.mean_field.energy import velocity
from attnspec.oracles.mean_field.model import Model
from attnspec.oracles.mean_field.two_token import equilibrium_angle, equilibrium_distance, phi_rate


def test_check_value_of_claims_md():
    # docs/claims.md: (beta, lambda, theta0) = (1, 0.5, 0.6) gives 0.397338661590122 (15 digits
    # quoted: agreement to half a unit in the last quoted digit)
    assert abs(float(equilibrium_distance(1, 0.5, 0.6)) - 0.397338661590122) <= 5e-16


@pytest.mark.parametrize("beta,lam,theta0", [(1, 0.5, 0.6), (0.3, 2.0, 1.2), (3.0, 0.1, 0.4)])
def test_root_is_an_equilibrium_of_the_planar_usa_flow(beta, lam, theta0):
    """The root zeroes the full vector field (energy.velocity, written independently of
    phi_rate) at the symmetric configuration, to float64 rounding."""
    phi = float(equilibrium_angle(beta, lam, theta0))
    with mp.workdps(40):
        assert abs(phi_rate(mp.mpf(phi), beta, lam, theta0)) < 1e-14
    pt = lambda a: np.array([math.cos(a), math.sin(a), 0.0])  # noqa: E731
    x = np.stack([pt(phi), pt(-phi)])
    model = Model("prompt", beta, "USA", prompts=np.stack([pt(theta0), pt(-theta0)]), lam=lam)
    # float64 evaluation of a field of size ~lam e^beta: 32 u of that
    assert np.max(np.abs(velocity(x, model))) <= 32 * 2.2e-16 * (1 + lam) * math.exp(beta)


def test_two_token_distances_respect_the_diameter_bound():
    """diam >= sin(theta/4) min(2, lambda e^-beta) at every two-token equilibrium of a grid."""
    for beta in (0.25, 4.0):
        for lam in (0.05, 5.0):
            for theta0 in (0.1, 0.6, 1.4):
                p = np.array([[math.cos(theta0), math.sin(theta0), 0], [math.cos(theta0), -math.sin(theta0), 0]])
                assert largest_prompt_angle(p) == pytest.approx(2 * theta0, rel=1e-14)
                assert float(equilibrium_distance(beta, lam, theta0)) >= diameter_lower_bound(p, beta, lam)
