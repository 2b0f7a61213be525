"""The catalogue the backward properties register in (``@claim``); attention/backward/ lists
them. Every one needs the kernel to declare ``backward``."""

from __future__ import annotations

from attnspec.properties.attention.strategies import gradient_recipes
from attnspec.properties.engine.property import Catalogue


def default_draw(spec, dtype, limits):
    return gradient_recipes(spec, dtype, limits)


def requires_backward(also: str | None = None):
    """``applies``: the kernel declares backward (and ``also``, when named)."""
    def applies(spec):
        return spec.lacks("backward") or (spec.lacks(also) if also else None)

    return applies


BACKWARD = Catalogue(default_draw)
claim = BACKWARD.claim
