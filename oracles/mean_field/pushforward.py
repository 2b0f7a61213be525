"""The additive model's pushforward limit: each token goes to the direction of its own C z_i.

Claim [D, docs/claims.md section 3]: in the additive model (h = x + C z in queries, keys and values,
only x on the sphere), the tokens' limit is x_i = C z_i / |C z_i|: the limit law is the
pushforward of the law of z under z -> C z / |C z|, not a Dirac, exactly in the limit of large
|C z| and, at finite C, to the accuracy stated here.

Accuracy [D, derived for this project]: write w_i = C z_i and, for the SA flow,
dx_i/dt = P_(x_i)(sum_j a_ij h_j) = P_(x_i)(w_i + r_i), r_i = sum_(j != i) a_ij (h_j - h_i)
(the x_i term drops under P). For unit x, |h_j - h_i| <= 2 + |w_j - w_i| and
a_ij <= e^(L_ij - L_ii) = e^(-beta <h_i, h_i - h_j>) <= e^(-beta g_ij) with
g_ij = <w_i, w_i - w_j> - |w_i - w_j| - 2 |w_i|, so |r_i| <= rho_i = sum_(j != i) e^(-beta g_ij)
(2 + |w_j - w_i|), whatever the other tokens do. Where <x_i, w_i + r_i> > 0 and rho_i < |w_i|:

    angle(x_i, w_i) <= arcsin(|dx_i/dt| / (|w_i| - rho_i)) + arcsin(rho_i / |w_i|),

so at an equilibrium (dx/dt = 0) every token lies within arcsin(rho_i / |w_i|) of its target.
rho_i decays like e^(-beta c^2 ...) for C = c I and distinct unit z. Domain: SA, distinct w_i.
"""

from __future__ import annotations

import numpy as np


def targets(z: np.ndarray, C: np.ndarray) -> np.ndarray:
    """C z_i / |C z_i| [n, d]."""
    w = np.asarray(z, np.float64) @ np.asarray(C, np.float64).T
    return w / np.linalg.norm(w, axis=-1, keepdims=True)


def offset_bound(z: np.ndarray, C: np.ndarray, beta: float) -> np.ndarray:
    """rho_i [n]: the a-priori bound on |r_i|."""
    w = np.asarray(z, np.float64) @ np.asarray(C, np.float64).T
    diff = w[:, None, :] - w[None, :, :]  # w_i - w_j
    dist = np.linalg.norm(diff, axis=-1)
    g = np.sum(w[:, None, :] * diff, axis=-1) - dist - 2 * np.linalg.norm(w, axis=-1)[:, None]
    terms = np.exp(-beta * g) * (2 + dist)
    np.fill_diagonal(terms, 0.0)
    return terms.sum(axis=-1)


def equilibrium_angle_bound(z: np.ndarray, C: np.ndarray, beta: float) -> np.ndarray:
    """arcsin(rho_i / |w_i|) [n] (inf where rho_i >= |w_i|): the equilibrium's offset."""
    w = np.asarray(z, np.float64) @ np.asarray(C, np.float64).T
    ratio = offset_bound(z, C, beta) / np.linalg.norm(w, axis=-1)
    return np.where(ratio < 1, np.arcsin(np.minimum(ratio, 1.0)), np.inf)


def angle_bound_at(x: np.ndarray, speed: np.ndarray, z: np.ndarray, C: np.ndarray,
                   beta: float) -> np.ndarray:
    """The bound on angle(x_i, w_i) at a state whose exact SA speeds |dx_i/dt| are ``speed`` [n]
    (inf where it does not apply: rho_i >= |w_i| or the speed is too large)."""
    w = np.asarray(z, np.float64) @ np.asarray(C, np.float64).T
    norm = np.linalg.norm(w, axis=-1)
    rho = offset_bound(z, C, beta)
    first = np.asarray(speed, np.float64) / np.maximum(norm - rho, 0.0)
    ok = (rho < norm) & (first < 1)
    bound = np.arcsin(np.minimum(first, 1.0)) + np.arcsin(np.minimum(rho / norm, 1.0))
    return np.where(ok, bound, np.inf)


def angles(x: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """angle between rows of x and of ``directions`` (both unit), from the chord [.., n]."""
    chord = np.linalg.norm(np.asarray(x, np.float64) - np.asarray(directions, np.float64), axis=-1)
    return 2 * np.arcsin(np.clip(chord / 2, 0.0, 1.0))
