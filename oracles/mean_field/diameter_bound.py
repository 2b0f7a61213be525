"""The prompt model's lower bound on the diameter of its equilibria.

Claim [D, docs/claims.md section 3]: at an equilibrium of the prompt model (SA or USA) with
<x_i, p_i> >= 0 for every i,

    diam {x_i} >= sin(theta / 4) min(2, lambda e^(-beta)),

theta the largest angle between two prompts. In particular the prompt model never collapses to
one point when two prompts differ. Domain: beta >= 0, lambda > 0, unit prompts [n, d].
The claim is checked, not assumed: tests/oracles/mean_field holds it against the exact
two-token equilibrium, properties/mean_field against the flow's end states.
"""

from __future__ import annotations

import numpy as np


def largest_prompt_angle(prompts: np.ndarray) -> float:
    """theta = max over pairs of the angle between prompts [n, d] (radians)."""
    p = np.asarray(prompts, np.float64)
    p = p / np.linalg.norm(p, axis=-1, keepdims=True)
    # the angle from the chord (accurate for small angles, unlike arccos of the inner product)
    chord = np.linalg.norm(p[:, None, :] - p[None, :, :], axis=-1)
    return float(2 * np.arcsin(np.clip(chord.max() / 2, 0.0, 1.0)))


def diameter_lower_bound(prompts: np.ndarray, beta: float, lam: float) -> float:
    """sin(theta / 4) min(2, lambda e^-beta)."""
    return float(np.sin(largest_prompt_angle(prompts) / 4) * min(2.0, lam * np.exp(-beta)))


def diameter(x: np.ndarray) -> np.ndarray:
    """max_ij |x_i - x_j| of states [..., n, d]."""
    x = np.asarray(x, np.float64)
    return np.linalg.norm(x[..., :, None, :] - x[..., None, :, :], axis=-1).max(axis=(-1, -2))
