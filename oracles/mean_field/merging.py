"""The merging identity: moving one of two tokens with equal auxiliary variables onto the other.

Claim [D, docs/claims.md section 3]: for tokens i != i' with equal auxiliary variables (equal
z for logit_pe and additive, equal prompts for prompt; any two tokens of plain), let E_(i->i') be
the energy with x_i replaced by x_(i'). Then, exactly,

    (E_(i->i') + E_(i'->i)) / 2 - E = (K(a, a) + K(b, b) - 2 K(a, b)) / (2 beta)  >= 0,

where K(a, b) = e^(L(a, b)) is the model's logit kernel between the two tokens' full states
a = (x_i, z_i) and b = (x_(i'), z_i) (a positive-definite kernel, so the right side is a squared
distance in its feature space). Derivation: expand E over the pairs that touch i or i'; the
cross terms with the other tokens and the prompt terms average out. Hence at a global maximiser
tokens with equal auxiliary variables coincide. Evaluated in mpmath at ``dps`` digits from
float64 states; returns (left side, right side) as mpf.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np

from attnspec.oracles.mean_field.high_precision import energy_mp
from attnspec.oracles.mean_field.model import Model


def _self_logit(model: Model, i: int, a, b):
    """L(a, b) for two tokens at positions a, b sharing token i's auxiliary variables."""
    beta = mp.mpf(model.beta)
    if model.kind == "additive":
        w = [mp.fsum(mp.mpf(float(model.C[k][m])) * mp.mpf(float(model.z[i][m]))
                     for m in range(model.z.shape[1])) for k in range(len(a))]
        ha = [p + q for p, q in zip(a, w)]
        hb = [p + q for p, q in zip(b, w)]
        return beta * mp.fsum(p * q for p, q in zip(ha, hb))
    L = beta * mp.fsum(p * q for p, q in zip(a, b))
    if model.kind == "logit_pe":
        zi = [mp.mpf(float(t)) for t in model.z[i]]
        L += mp.mpf(model.gamma) * mp.fsum(t * t for t in zi)
    return L


def merging_sides(x: np.ndarray, model: Model, i: int, j: int, dps: int = 40):
    """(left, right) of the merging identity for tokens i and j of state x [n, d]."""
    x = np.asarray(x, np.float64)
    for name in ("z", "prompts"):
        aux = getattr(model, name)
        if aux is not None and not np.array_equal(aux[i], aux[j]):
            raise ValueError(f"tokens {i} and {j} have different {name}")
    with mp.workdps(dps):
        X = [[mp.mpf(float(t)) for t in row] for row in x]
        E = energy_mp(X, model, dps)
        to_j = [row[:] for row in X]
        to_j[i] = X[j][:]
        to_i = [row[:] for row in X]
        to_i[j] = X[i][:]
        left = (energy_mp(to_j, model, dps) + energy_mp(to_i, model, dps)) / 2 - E
        a, b = X[i], X[j]
        K = lambda p, q: mp.exp(_self_logit(model, i, p, q))  # noqa: E731
        right = (K(a, a) + K(b, b) - 2 * K(a, b)) / (2 * mp.mpf(model.beta))
        return +left, +right
