"""The mean_field suite: the token flows' exact laws, run with a kernel as the flows' attention.

The flows dx_i/dt = P_(x_i)(attention(x, x, x, scale=beta)_i) are attention applied many times,
so their laws are a depth test of the kernel that drives them: a systematic error one forward
call hides compounds over hundreds of steps. Opened on no kernel, the laws run on the built-in
dense reference (float64); opened on a kernel, on that kernel in its widest declared dtype
(source.py says what each model needs of it). Each law has a plan per effort with fixed seeds;
quick runs the first case of each ci plan with fewer runs (about a quarter of ci's time).
"""

from __future__ import annotations

from attnspec.properties.attention.context import isolate
from attnspec.properties.engine.law import LawSession
from attnspec.properties.engine.results import Result
from attnspec.properties.engine.suite import NotApplicable, Suite, run_sessions
from attnspec.properties.mean_field.catalogue import LAWS
from attnspec.properties.mean_field.source import KernelFlowSource, ReferenceSource

PLAN_OF_EFFORT = {"quick": "quick", "ci": "ci", "thorough": "thorough"}


def law_session(source, effort: str, seed: int | None = None) -> LawSession:
    """The mean_field laws on ``source`` at ``effort`` (engine/law.LawSession)."""
    return LawSession("mean_field", LAWS, source, effort, PLAN_OF_EFFORT, seed)


class FlowSuite(Suite):
    name = "mean_field"
    summary = ("exact laws of the mean-field token flows (Imaizumi, Koyama, Isobe, Hayashi 2026) "
               "with the kernel as the flows' attention: a depth test of hundreds of calls")

    def efforts(self) -> dict[str, str]:
        return {"quick": "one case per law, few runs", "ci": "fixed seeds, seconds per law",
                "thorough": "fixed seeds, more runs and longer horizons"}

    def claims(self) -> list[tuple[str, str]]:
        return [(law.name, law.claim) for law in LAWS]

    def open(self, subject, effort: str, call_timeout: float | None = None,
             isolation: str | None = None, seed: int | None = None, **_) -> LawSession:
        """A session on ``subject`` (None: the dense reference in float64); ``seed`` (--seed)
        redraws the runs' starts and auxiliary variables."""
        if subject is None:
            return law_session(ReferenceSource(), effort, seed)
        if reason := subject.spec.exact_only("the flows' laws are exact identities of exact "
                                             "attention; an approximate kernel's certificate "
                                             "bounds one call, not a flow of hundreds"):
            raise NotApplicable(reason)
        isolate(subject, isolation)
        kwargs = {} if call_timeout is None else {"timeout_s": call_timeout}
        return law_session(KernelFlowSource(subject, **kwargs), effort, seed)


MEAN_FIELD = FlowSuite()


def check_flows(source=None, effort: str = "ci", names=None, on_result=None) -> list[Result]:
    """Run the laws (all, or ``names``) on ``source`` (default: the dense reference) at
    ``effort``: the Python form of ``attnspec check KERNEL --suite mean_field``."""
    results, _ = run_sessions([law_session(source or ReferenceSource(), effort)], names, on_result)
    return results
