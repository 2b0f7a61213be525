"""Statistical laws of attention over long random contexts, checked against the scaling-limit oracles.

Each law (docs/claims.md section 1) names its claim, provenance, sampling plan per effort (ci:
seconds, thorough: minutes; quick uses the ci plans), false-alarm rate (1e-6 per law, split over
its tests) and seed; its check draws random contexts from a source and compares them with the
oracles (attnspec.oracles.scaling_limits), returning a Result (properties/engine/results.py)
with each test's statistic (z or KS distance), threshold and numbers. The engine supplies what
a law is and its statistics (properties/engine/law.py, statistics.py); one concept per module
here:

    sources              StreamingSource (the streaming Monte Carlo kernel, or a function with its
                         signature), KernelSource (a user's attention kernel fed sampled keys)
    critical_wmax        critical_wmax_law: the law of W_max at beta = gamma n^(2/(d-1))
    critical_moments     critical_ipr_and_normaliser: E IPR and E S at the critical scale
    threshold_scaling    selectivity_threshold_scaling: beta_half ~ n^(2/(d-1))
    subcritical_moments  subcritical_output_moments: mean and variances of the output
    supercritical        supercritical_one_minus_wmax: E[1 - W_max] ~ ln 2 K_d / gamma
    finite_input         finite_input_temperature_laws: the contract suite's temperature
                         properties, run by name (not reimplemented)
    catalogue            LAWS in report order
    suite                the scaling_limits suite (properties/suites.py) and check_laws
    phase                the phase diagram (attnspec laws phase; matplotlib imported lazily)

Usage:

    from attnspec.properties.scaling_limits import check_laws, critical_wmax_law, KernelSource
    critical_wmax_law.check(StreamingSource())                  # streaming Monte Carlo, ci plan
    check_laws(KernelSource(load_kernel("sdpa-math")), "ci")    # every law on a kernel
"""

from attnspec.properties.engine.law import ALPHA, Law, Plan, SourceFailure
from attnspec.properties.engine.statistics import Check, Measurement
from attnspec.properties.scaling_limits.catalogue import LAWS, LAWS_BY_NAME
from attnspec.properties.scaling_limits.critical_moments import critical_ipr_and_normaliser
from attnspec.properties.scaling_limits.critical_wmax import CriticalCase, critical_wmax_law
from attnspec.properties.scaling_limits.finite_input import finite_input_temperature_laws
from attnspec.properties.scaling_limits.sources import Draws, KernelSource, StreamingSource
from attnspec.properties.scaling_limits.subcritical_moments import SubcriticalCase, subcritical_output_moments
from attnspec.properties.scaling_limits.suite import SCALING_LIMITS, check_laws
from attnspec.properties.scaling_limits.supercritical import SupercriticalCase, supercritical_one_minus_wmax
from attnspec.properties.scaling_limits.threshold_scaling import ScalingCase, selectivity_threshold_scaling

__all__ = [
    "ALPHA", "Check", "CriticalCase", "Draws", "KernelSource", "LAWS", "LAWS_BY_NAME", "Law",
    "Measurement", "Plan", "SCALING_LIMITS", "ScalingCase", "SourceFailure", "StreamingSource",
    "SubcriticalCase", "SupercriticalCase", "check_laws", "critical_ipr_and_normaliser",
    "critical_wmax_law", "finite_input_temperature_laws", "selectivity_threshold_scaling",
    "subcritical_output_moments", "supercritical_one_minus_wmax",
]
