"""The laws of the scaling_limits suite, in report order."""

from __future__ import annotations

from attnspec.properties.scaling_limits.critical_moments import critical_ipr_and_normaliser
from attnspec.properties.scaling_limits.critical_wmax import critical_wmax_law
from attnspec.properties.scaling_limits.finite_input import finite_input_temperature_laws
from attnspec.properties.scaling_limits.subcritical_moments import subcritical_output_moments
from attnspec.properties.scaling_limits.supercritical import supercritical_one_minus_wmax
from attnspec.properties.scaling_limits.threshold_scaling import selectivity_threshold_scaling

LAWS = (
    critical_wmax_law,
    critical_ipr_and_normaliser,
    selectivity_threshold_scaling,
    subcritical_output_moments,
    supercritical_one_minus_wmax,
    finite_input_temperature_laws,
)
LAWS_BY_NAME = {law.name: law for law in LAWS}
