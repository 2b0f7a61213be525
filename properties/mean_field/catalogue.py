"""The laws of the mean_field suite, in report order."""

from __future__ import annotations

from attnspec.properties.mean_field.additive_law import additive_pushforward
from attnspec.properties.mean_field.collapse_law import collapse
from attnspec.properties.mean_field.energy_law import energy_dissipation
from attnspec.properties.mean_field.invariants_law import flow_invariants
from attnspec.properties.mean_field.prompt_laws import prompt_no_collapse, two_token_equilibrium

LAWS = (flow_invariants, energy_dissipation, collapse, prompt_no_collapse, two_token_equilibrium,
        additive_pushforward)
LAWS_BY_NAME = {law.name: law for law in LAWS}
