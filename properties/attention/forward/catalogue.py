"""The catalogue the forward properties register in (``@claim``); attention/forward/ lists them."""

from __future__ import annotations

from attnspec.properties.attention.strategies import recipes
from attnspec.properties.engine.property import Catalogue


def default_draw(spec, dtype, limits):
    return recipes(spec, dtype, limits)


def requires(capability: str):
    """``applies=requires("lse")``: the property needs the kernel to declare ``capability``."""
    def applies(spec):
        return spec.lacks(capability)

    return applies


FORWARD = Catalogue(default_draw)
claim = FORWARD.claim
