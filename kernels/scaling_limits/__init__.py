"""Streaming Monte Carlo over very long random contexts (keys i.i.d. on the sphere).

torch only; never imports attnspec.oracles (kernels never share code with the oracles that judge
them). See streaming.py for the sampling and the streaming reduction.
"""

from attnspec.kernels.scaling_limits.streaming import (
    RandomContextStats,
    critical_beta,
    householder_to,
    keys_per_second,
    make_generator,
    random_context_stats,
    sample_deficits,
    sample_keys,
    sample_tangent_directions,
    stream_reduce,
)

__all__ = [
    "RandomContextStats",
    "critical_beta",
    "householder_to",
    "keys_per_second",
    "make_generator",
    "random_context_stats",
    "sample_deficits",
    "sample_keys",
    "sample_tangent_directions",
    "stream_reduce",
]
