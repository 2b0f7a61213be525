"""Profiles: how hard ``attnspec check`` looks.

quick     a smoke run while editing a kernel (seconds).
ci        deterministic (hypothesis derandomized: the same cases every run, so CI is
          reproducible and a failure is never flaky), sized to finish within ~2 minutes per
          kernel on 2 CPU cores.
thorough  ten times the examples, longer rows (a quarter of the cases are decode shapes with
          1021..16384 keys), with fresh randomness each run.
long      out and lse only, on decode-shaped random contexts of 1e4..1e6 keys: unit keys on the
          sphere in the subcritical regime, and scores in arithmetic progression (geometric
          weights, exact in closed form); deterministic. Minutes per kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from attnspec.properties.attention.strategies import Limits


@dataclass(frozen=True)
class Profile:
    name: str
    max_examples: int
    limits: Limits
    derandomize: bool
    call_timeout_s: float
    description: str
    properties: tuple[str, ...] | None = None  # the properties this profile runs (None: all)
    shrink_calls: int = 80  # kernel calls allowed for shrinking after the first violation

    def with_examples(self, n: int) -> "Profile":
        return replace(self, max_examples=n)


PROFILES = {
    p.name: p
    for p in [
        Profile("quick", 15, Limits(max_len=33, max_batch=2, max_heads=4, max_head_dim=40,
                                    max_scores=2 * 4 * 33 * 33),
                derandomize=False, call_timeout_s=30.0, description="smoke run, seconds"),
        Profile("ci", 40, Limits(max_len=70, max_batch=2, max_heads=4, max_head_dim=72,
                                 max_scores=2 * 4 * 70 * 70),
                derandomize=True, call_timeout_s=60.0,
                description="deterministic, ~2 min per kernel on 2 cores"),
        Profile("thorough", 400, Limits(max_len=300, max_batch=3, max_heads=8, max_head_dim=160,
                                        max_scores=3 * 8 * 300 * 300, long_kv_len=16384),
                derandomize=False, call_timeout_s=120.0, description="10x examples, long rows"),
        Profile("long", 8, Limits(long_context=True), derandomize=True, call_timeout_s=600.0,
                description="out and lse on random contexts of 1e4..1e6 keys (minutes)",
                properties=("output_matches_oracle", "lse_matches_oracle"),
                # a call costs seconds at a million keys: shrink little, the case is long anyway
                shrink_calls=4),
    ]
}
