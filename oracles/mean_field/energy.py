"""The energy of the token flows, its gradient, each row's normaliser, the exact velocity and
the exact dissipation rate (numpy float64, vectorised over leading batch axes).

Claim [L, Geshkovski et al. 2023 for plain; D for the auxiliary models, docs/claims.md section 3]:

    E = (2 beta)^-1 sum_ij e^(L_ij)  [+ (n lambda / beta) sum_i e^(beta <x_i, p_i>) for prompt]
    grad_i E = sum_j e^(L_ij) u_j     [+ n lambda e^(beta <x_i, p_i>) p_i]
    Z_i = sum_j e^(L_ij)              [+ n lambda e^(beta <x_i, p_i>)]

with L and u as in model.py (the logits are symmetric, so grad_i collects both occurrences of
x_i). Every model is a gradient flow of E on the product of spheres, up to a per-row factor:
SA moves at P_(x_i) grad_i E / Z_i, USA at P_(x_i) grad_i E / n, hence the dissipation identity

    dE/dt = sum_i Z_i |dx_i/dt|^2  (SA),      dE/dt = n sum_i |dx_i/dt|^2  (USA),

both >= 0. Domain: x rows of unit norm (the formulas are evaluated as written for any x).
Shapes: x [..., n, d]; E [...]; grad, velocity [..., n, d]; Z [..., n].
"""

from __future__ import annotations

import numpy as np

from attnspec.oracles.mean_field.model import Model


def features(x: np.ndarray, model: Model) -> np.ndarray:
    """u_j: the values the tokens average (h = x + z C^T for additive, else x)."""
    x = np.asarray(x, np.float64)
    if model.kind == "additive":
        return x + np.asarray(model.z, np.float64) @ np.asarray(model.C, np.float64).T
    return x


def logits(x: np.ndarray, model: Model) -> np.ndarray:
    """L_ij [..., n, n] (token-token logits; the prompt's own logit is separate)."""
    u = features(x, model)
    L = model.beta * (u @ np.swapaxes(u, -1, -2))
    if model.kind == "logit_pe":
        z = np.asarray(model.z, np.float64)
        L = L + model.gamma * (z @ z.T)
    return L


def _prompt_weight(x: np.ndarray, model: Model) -> np.ndarray:
    """n lambda e^(beta <x_i, p_i>)  [..., n]."""
    n = x.shape[-2]
    return n * model.lam * np.exp(model.beta * np.sum(x * model.prompts, axis=-1))


def energy(x: np.ndarray, model: Model) -> np.ndarray:
    x = np.asarray(x, np.float64)
    E = np.exp(logits(x, model)).sum(axis=(-1, -2)) / (2 * model.beta)
    if model.kind == "prompt":
        E = E + _prompt_weight(x, model).sum(axis=-1) / model.beta
    return E


def gradient_and_normaliser(x: np.ndarray, model: Model) -> tuple[np.ndarray, np.ndarray]:
    """(grad_i E [..., n, d], Z_i [..., n])."""
    x = np.asarray(x, np.float64)
    K = np.exp(logits(x, model))
    grad = K @ features(x, model)
    Z = K.sum(axis=-1)
    if model.kind == "prompt":
        w = _prompt_weight(x, model)
        grad = grad + w[..., None] * model.prompts
        Z = Z + w
    return grad, Z


def tangent(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P_x y = y - <x, y> x, row by row."""
    return y - np.sum(x * y, axis=-1, keepdims=True) * x


def velocity(x: np.ndarray, model: Model) -> np.ndarray:
    """dx/dt of the exact flow at x [..., n, d]."""
    x = np.asarray(x, np.float64)
    grad, Z = gradient_and_normaliser(x, model)
    scale = Z[..., None] if model.normalisation == "SA" else x.shape[-2]
    return tangent(x, grad) / scale


def dissipation_rate(x: np.ndarray, model: Model, v: np.ndarray | None = None) -> np.ndarray:
    """dE/dt along the exact flow at x (or along velocity ``v``, for the identity's right side)."""
    x = np.asarray(x, np.float64)
    v = velocity(x, model) if v is None else np.asarray(v, np.float64)
    if model.normalisation == "SA":
        _, Z = gradient_and_normaliser(x, model)
        return np.sum(Z * np.sum(v * v, axis=-1), axis=-1)
    return x.shape[-2] * np.sum(v * v, axis=(-1, -2))


def energy_rate(x: np.ndarray, model: Model, v: np.ndarray) -> np.ndarray:
    """<grad E, v> = the energy's rate of change along any tangent velocity v (the chain rule);
    equals dissipation_rate(x) when v is the exact velocity."""
    grad, _ = gradient_and_normaliser(np.asarray(x, np.float64), model)
    return np.sum(tangent(np.asarray(x, np.float64), grad) * v, axis=(-1, -2))
