"""The attention suites' plans at each effort: how hard they look.

contract (the ``attention`` suite):
  quick     a smoke run while editing a kernel (seconds).
  ci        the cover's 19 planned cells (attention/cover.py: every tile edge of 16..128 as
            Lq and Lk, decode rows to 511 keys, each dtype in turn, masks by batch and head,
            negative and zero scales), then 25 random cases; deterministic (hypothesis
            derandomized with a pinned seed: the same cases every run, so CI is reproducible
            and a failure is never flaky), sized to finish within ~2 minutes per kernel on 2
            CPU cores.
  thorough  the cover, then 400 random cases with longer rows (a quarter of them decode shapes
            with 1021..16384 keys), with fresh randomness each run.
gradients (the ``gradients`` suite): the contract's plans, but decode rows to 4099 keys (not
  16384) in thorough.
long contexts (the ``long_contexts`` suite; thorough only):
  thorough  out and lse only, on decode-shaped random contexts of 1e4..1e6 keys: unit keys on
            the sphere in the subcritical regime, and scores in arithmetic progression
            (geometric weights, exact in closed form); deterministic. Minutes per kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from attnspec.properties.attention.cover import COVER
from attnspec.properties.attention.strategies import Limits


@dataclass(frozen=True)
class Profile:
    max_examples: int
    limits: Limits
    derandomize: bool
    call_timeout_s: float
    description: str
    shrink_calls: int = 80  # kernel calls allowed for shrinking after the first violation
    database: str | None = None  # hypothesis's example database directory (--database)
    seed: int | None = None  # --seed: hypothesis's seed (None: the effort's own choice)
    cover: tuple = ()  # cells searched one case each before the random draws (cover.py)

    def adjusted(self, max_examples: int | None = None, call_timeout_s: float | None = None,
                 database: str | None = None, seed: int | None = None):
        """This plan with the examples per property, the per-call time limit, the example
        database or the seed overridden."""
        if max_examples is not None:
            self = replace(self, max_examples=max_examples)
        if call_timeout_s is not None:
            self = replace(self, call_timeout_s=call_timeout_s)
        if database is not None:
            self = replace(self, database=database)
        if seed is not None:
            self = replace(self, seed=seed)
        return self


CONTRACT_PLANS = {
    "quick": Profile(15, Limits(max_len=33, max_batch=2, max_heads=4, max_head_dim=40,
                                max_scores=2 * 4 * 33 * 33),
                     derandomize=False, call_timeout_s=30.0, description="smoke run, seconds"),
    # 19 cells of the cover, then 25 random cases: 44 per property (40 random cases before the
    # cover; docs/coverage.md has what the cover cost per kernel)
    "ci": Profile(25, Limits(max_len=70, max_batch=2, max_heads=4, max_head_dim=72,
                             max_scores=2 * 4 * 70 * 70),
                  derandomize=True, call_timeout_s=60.0, cover=COVER,
                  description="deterministic, ~2 min per kernel on 2 cores"),
    "thorough": Profile(400, Limits(max_len=300, max_batch=3, max_heads=8, max_head_dim=160,
                                    max_scores=3 * 8 * 300 * 300, long_kv_len=16384),
                        derandomize=False, call_timeout_s=120.0, cover=COVER,
                        description="10x examples, rows to 16k keys, fresh randomness"),
}
LONG_CONTEXT_PLANS = {
    "thorough": Profile(8, Limits(long_context=True), derandomize=True, call_timeout_s=600.0,
                        description="out and lse on random contexts of 1e4..1e6 keys (minutes)",
                        # a call costs seconds at a million keys: shrink little, the case is
                        # long anyway
                        shrink_calls=4),
}
# The backward's plans take the contract's examples and limits (long rows to 4099 keys in
# thorough, where every case also runs the backward and the exact gradients): measured, a ci
# run of the gradients suite costs a built-in kernel less than its forward suite (docs/zoo.md).
GRADIENT_PLANS = {
    "quick": replace(CONTRACT_PLANS["quick"]),
    "ci": replace(CONTRACT_PLANS["ci"], description="deterministic, less than the contract's ci"),
    "thorough": replace(CONTRACT_PLANS["thorough"],
                        limits=replace(CONTRACT_PLANS["thorough"].limits, long_kv_len=4099),
                        description="10x examples, rows to 4k keys, fresh randomness"),
}
