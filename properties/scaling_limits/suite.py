"""The scaling_limits suite: the statistical laws of attention over long random contexts.

Opened on no kernel, the laws sample the streaming Monte Carlo kernel (the paper's own
sampler); opened on a kernel, they feed it exactly sampled random contexts (sources.py). Each
law has a plan per effort with fixed seeds (``--seed N`` draws them from N instead, and the
thorough effort from a fresh N: engine/law.reseeded): ci takes seconds per law, thorough minutes; quick
uses the ci plans (they are the smallest that still resolve each law at its false-alarm rate).
The laws are laws of exact attention: they do not apply to a kernel that declares an
approximation (its certificate bounds each row, not the laws' statistics).
"""

from __future__ import annotations

from attnspec.properties.attention.context import isolate
from attnspec.properties.engine.law import LawSession
from attnspec.properties.engine.results import Result
from attnspec.properties.engine.suite import NotApplicable, Suite, run_sessions
from attnspec.properties.scaling_limits.catalogue import LAWS
from attnspec.properties.scaling_limits.sources import KernelSource, StreamingSource

PLAN_OF_EFFORT = {"quick": "ci", "ci": "ci", "thorough": "thorough"}


def law_session(source, effort: str, seed: int | None = None) -> LawSession:
    """The scaling_limits laws on ``source`` at ``effort`` (engine/law.LawSession)."""
    return LawSession("scaling_limits", LAWS, source, effort, PLAN_OF_EFFORT, seed)


class LawSuite(Suite):
    name = "scaling_limits"
    summary = ("statistical laws of attention over n random keys on the sphere (Bruno, Chen, Lin, "
               "Polyanskiy, Rigollet 2026), each at a false-alarm rate of 1e-6; fixed seeds at ci, "
               "--seed N for others")

    def efforts(self) -> dict[str, str]:
        return {"quick": "the ci plans", "ci": "fixed seeds, seconds per law",
                "thorough": "a fresh seed (named in the report), minutes per law"}

    def claims(self) -> list[tuple[str, str]]:
        return [(law.name, law.claim) for law in LAWS]

    def open(self, subject, effort: str, call_timeout: float | None = None,
             isolation: str | None = None, seed: int | None = None, **_) -> LawSession:
        """A session on ``subject`` (None: the streaming Monte Carlo kernel); ``isolation``
        says where a kernel runs, as for the contract's suites (attention/context.isolate)."""
        if subject is None:
            return law_session(StreamingSource(), effort, seed)
        if reason := subject.spec.exact_only("the laws are laws of exact attention, and its "
                                             "certificate bounds each row, not their statistics"):
            raise NotApplicable(reason)
        isolate(subject, isolation)
        kwargs = {} if call_timeout is None else {"timeout_s": call_timeout}
        return law_session(KernelSource(subject, **kwargs), effort, seed)


SCALING_LIMITS = LawSuite()


def check_laws(source=None, effort: str = "ci", names=None, on_result=None,
               seed: int | None = None) -> list[Result]:
    """Run the laws (all, or ``names``) on ``source`` (default: the streaming Monte Carlo
    kernel) at ``effort``, from the fixed seeds or from ``seed``: the Python form of
    ``attnspec laws check [--seed N]``."""
    results, _ = run_sessions([law_session(source or StreamingSource(), effort, seed)], names,
                              on_result)
    return results
