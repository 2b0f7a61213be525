"""Statistical laws of attention over long random contexts, checked against the scaling-limit oracles.

Each law (claims.md section 1) names its claim, provenance, sampling plan per size ("ci":
seconds, "long": minutes), false-alarm rate (1e-6 per law, split over its tests) and seed; its
check draws random contexts from a source and compares them with the oracles
(attnspec.oracles.scaling_limits), returning a Verdict with each test's statistic (z or KS
distance), threshold and numbers. One concept per module:

    base                 Law, Plan, Measurement, Check, Verdict; z / KS thresholds (Bonferroni)
    sources              StreamingSource (the streaming Monte Carlo kernel, or a function with its
                         signature), KernelSource (a user's attention kernel fed sampled keys)
    critical_wmax        critical_wmax_law: the law of W_max at beta = gamma n^(2/(d-1))
    critical_moments     critical_ipr_and_normaliser: E IPR and E S at the critical scale
    threshold_scaling    selectivity_threshold_scaling: beta_half ~ n^(2/(d-1))
    subcritical_moments  subcritical_output_moments: mean and variances of the output
    supercritical        supercritical_one_minus_wmax: E[1 - W_max] ~ ln 2 K_d / gamma
    finite_input         finite_input_temperature_laws: the attnspec check temperature
                         properties, run by name (not reimplemented)
    catalog              LAWS, check_laws, render
    phase                the phase diagram (attnspec laws phase; matplotlib imported lazily)

Usage:

    from attnspec.properties.scaling_limits import check_laws, critical_wmax_law, KernelSource
    from attnspec.properties.loading import load_kernel
    critical_wmax_law.check()                                   # streaming Monte Carlo, ci size
    check_laws(KernelSource(load_kernel("sdpa-math")), "ci")    # every law on a kernel
"""

from attnspec.properties.scaling_limits.base import ALPHA, SIZES, Check, KernelCallError, Law, Measurement, Plan, Verdict
from attnspec.properties.scaling_limits.catalog import CATALOG, LAWS, LawsReport, check_laws, render
from attnspec.properties.scaling_limits.critical_moments import critical_ipr_and_normaliser
from attnspec.properties.scaling_limits.critical_wmax import CriticalCase, critical_wmax_law
from attnspec.properties.scaling_limits.finite_input import finite_input_temperature_laws
from attnspec.properties.scaling_limits.sources import Draws, KernelSource, StreamingSource
from attnspec.properties.scaling_limits.subcritical_moments import SubcriticalCase, subcritical_output_moments
from attnspec.properties.scaling_limits.supercritical import SupercriticalCase, supercritical_one_minus_wmax
from attnspec.properties.scaling_limits.threshold_scaling import ScalingCase, selectivity_threshold_scaling

__all__ = [
    "ALPHA", "CATALOG", "Check", "CriticalCase", "Draws", "KernelCallError", "KernelSource", "LAWS",
    "Law", "LawsReport", "Measurement", "Plan", "SIZES", "ScalingCase", "StreamingSource",
    "SubcriticalCase", "SupercriticalCase", "Verdict", "check_laws", "critical_ipr_and_normaliser",
    "critical_wmax_law", "finite_input_temperature_laws", "render", "selectivity_threshold_scaling",
    "subcritical_output_moments", "supercritical_one_minus_wmax",
]
