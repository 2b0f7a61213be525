"""Oracles of paper 3, mean-field token dynamics with auxiliary variables (Imaizumi, Koyama,
Isobe, Hayashi 2026; docs/claims.md section 3, docs/mean-field.md).

    model            the four models (plain, logit_pe, additive, prompt) as the oracles read them
    energy           E, grad E, the normalisers Z_i, the exact velocity, the dissipation rate
    high_precision   an mpmath Taylor-series integrator of the flows for small n, E in mpmath
    two_token        the prompt model's two-token equilibrium (a scalar root) and its distance
    merging          the merging identity (E_(i->i') + E_(i'->i))/2 - E = |K feature gap|^2/(2 beta)
    diameter_bound   the prompt model's diameter lower bound, the diameter of a state
    pushforward      the additive model's limit C z/|C z| and its derived accuracy at finite C
    hemisphere       the hemisphere invariant's margin, Wendel's probability, LP membership

numpy, scipy and mpmath; imports neither torch nor attnspec.kernels.
"""

from attnspec.oracles.mean_field import (diameter_bound, energy, hemisphere, high_precision, merging,
                                         model, pushforward, two_token)

__all__ = ["diameter_bound", "energy", "hemisphere", "high_precision", "merging", "model",
           "pushforward", "two_token"]
