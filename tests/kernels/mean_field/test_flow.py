"""kernels/mean_field: each model's one-call velocity against the oracle's exact vector field,
and the integrator's order against the high-precision oracle."""

import numpy as np
import pytest
import torch

from attnspec.kernels.mean_field import TokenModel, integrate, random_tokens, velocity
from attnspec.kernels.registry import present_devices
from attnspec.oracles.mean_field.energy import features, gradient_and_normaliser
from attnspec.oracles.mean_field.energy import velocity as exact_velocity
from attnspec.oracles.mean_field.high_precision import integrate as exact_integrate
from attnspec.oracles.mean_field.model import Model

U64 = 2.0**-53


def _unit(g, rows, d):
    x = torch.randn(rows, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=-1, keepdim=True)


def _pair(kind, normalisation, n, d, beta, g):
    if kind == "plain":
        return TokenModel(kind, beta, normalisation), Model(kind, beta, normalisation)
    if kind == "logit_pe":
        z = _unit(g, n, 2)
        return (TokenModel(kind, beta, normalisation, gamma=-0.8, z=z),
                Model(kind, beta, normalisation, gamma=-0.8, z=z.numpy()))
    if kind == "additive":
        z, C = _unit(g, n, 2), torch.randn(d, 2, generator=g, dtype=torch.float64)
        return (TokenModel(kind, beta, normalisation, z=z, C=C),
                Model(kind, beta, normalisation, z=z.numpy(), C=C.numpy()))
    p = _unit(g, n, d)
    return (TokenModel(kind, beta, normalisation, prompts=p, lam=0.3),
            Model(kind, beta, normalisation, prompts=p.numpy(), lam=0.3))


@pytest.mark.parametrize("device", present_devices())
@pytest.mark.parametrize("normalisation", ["SA", "USA"])
@pytest.mark.parametrize("kind", ["plain", "logit_pe", "additive", "prompt"])
def test_one_call_velocity_is_the_exact_field(kind, normalisation, device):
    g = torch.Generator().manual_seed(11)
    n, d, beta = 7, 4, 1.7
    kmodel, oracle = _pair(kind, normalisation, n, d, beta, g)
    x = random_tokens(3, n, d, seed=5)
    v = velocity(x.to(device), kmodel).cpu().numpy()
    exact = exact_velocity(x.numpy(), oracle)
    # two float64 evaluations of a softmax average of n (or 2n) values of size <= |u|max, then
    # scaled by Z/n for USA: each within (2n + D + 8) u of |u|max x the row's scale [D]
    u = features(x.numpy(), oracle)
    u_max = max(float(np.linalg.norm(u, axis=-1).max()), 1.0)
    _, Z = gradient_and_normaliser(x.numpy(), oracle)
    scale = u_max * (float(Z.max()) / n if normalisation == "USA" else 1.0)
    assert np.max(np.abs(v - exact)) <= 2 * (2 * n + d + 8) * U64 * scale


def test_rk4_has_order_four_against_the_high_precision_oracle():
    x0 = random_tokens(1, 2, 3, seed=3)
    T = 0.5
    (exact,) = exact_integrate(x0[0].numpy(), Model("plain", 2.0, "SA"), [T], dps=20)
    exact = np.array([[float(t) for t in row] for row in exact])
    errors = []
    for steps in (5, 10, 20):
        xT = integrate(x0, TokenModel("plain", 2.0, "SA"), steps=steps, dt=T / steps).final[0].numpy()
        errors.append(np.max(np.abs(xT - exact)))
    # halving h divides the error by 2^4 = 16 for a fourth-order scheme; > 11 (order > 3.5)
    assert errors[0] / errors[1] > 11 and errors[1] / errors[2] > 11
    assert errors[2] < 1e-7


def test_states_stay_unit_and_records_are_where_asked():
    tr = integrate(random_tokens(2, 5, 3, seed=1), TokenModel("plain", 1.0, "USA"), steps=7, dt=0.3,
                   record_every=3)
    assert tr.times.tolist() == pytest.approx([0, 0.9, 1.8, 2.1])
    assert float((tr.states.norm(dim=-1) - 1).abs().max()) <= 4 * U64


def test_the_prompt_models_call_uses_a_mask_and_one_extra_feature():
    from attnspec.kernels.mean_field import attention_call

    p = _unit(torch.Generator().manual_seed(2), 4, 3)
    call = attention_call(TokenModel("prompt", 2.0, "USA", prompts=p, lam=0.25), random_tokens(1, 4, 3, seed=0))
    assert call.q.shape == (1, 1, 4, 4) and call.k.shape == (1, 1, 8, 4) and call.v.shape == (1, 1, 8, 3)
    assert call.mask[0, 0].sum(-1).tolist() == [5, 5, 5, 5]
    # the prompt key's extra feature carries log(n lambda) / beta: log(1) / 2 = 0 here
    assert float(call.k[0, 0, 4:, 3].abs().max()) == 0.0
