"""The catalogue the backward properties register in (``@claim``); attention/backward/ lists
them. Every one needs the kernel to declare ``backward``."""

from __future__ import annotations

from attnspec.properties.attention.strategies import gradient_recipes
from attnspec.properties.engine.property import Catalogue


def default_draw(spec, dtype, limits):
    return gradient_recipes(spec, dtype, limits)


def requires_backward(also: str | None = None, exact_values: bool = False):
    """``applies``: the kernel declares backward (and ``also``, when named); with
    ``exact_values`` the property judges gradient values by budgets of the exact attention, which
    an approximate kernel's certificate (a bound on out and lse only) does not extend to."""
    def applies(spec):
        return (spec.lacks("backward") or (spec.lacks(also) if also else None)
                or (spec.exact_only("its certificate bounds out and lse, not the gradients")
                    if exact_values else None))

    return applies


BACKWARD = Catalogue(default_draw)
claim = BACKWARD.claim
