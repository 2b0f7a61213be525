"""The attention wing's suites: the kernel contract at every effort, its gradients, and long
contexts.

``attention`` runs every forward property (attention/forward/) on a kernel at the plan of the
effort (attention/profiles.py); ``gradients`` every backward property (attention/backward/),
each not applicable to a kernel that does not declare ``backward``. ``long_contexts`` runs the
two oracle comparisons on decode rows of 1e4..1e6 keys (sphere keys, attention sinks, geometric
weights: attention/strategies.py) and is planned at the thorough effort only: minutes per
kernel.
"""

from __future__ import annotations

from attnspec.properties.attention import backward
from attnspec.properties.attention.backward.context import GradientContext
from attnspec.properties.attention.context import Context, isolate
from attnspec.properties.attention.diagnosis import declaration_hint
from attnspec.properties.attention.forward import PROPERTIES
from attnspec.properties.attention.profiles import (CONTRACT_PLANS, GRADIENT_PLANS,
                                                    LONG_CONTEXT_PLANS, Profile)
from attnspec.properties.engine.driver import run_property
from attnspec.properties.engine.results import Result
from attnspec.properties.engine.suite import NotApplicable, Session, Suite


class KernelSession(Session):
    def __init__(self, suite: str, properties, subject, profile: Profile, context=Context):
        self.suite = suite
        self.properties = {p.name: p for p in properties}
        self.subject = subject
        self.profile = profile
        self.context = context(subject, profile)

    def names(self) -> list[str]:
        return list(self.properties)

    def claim(self, name: str) -> str:
        return self.properties[name].claim

    def run(self, name: str) -> Result:
        return run_property(self.properties[name], self.context, self.profile, self.suite)


class KernelSuite(Suite):
    """Properties of the contract run on a kernel through ``context`` (its class)."""

    def __init__(self, name: str, summary: str, properties, plans: dict[str, Profile],
                 context=Context):
        self.name, self.summary = name, summary
        self.properties = properties
        self.plans = plans
        self.context = context

    def efforts(self) -> dict[str, str]:
        return {effort: plan.description for effort, plan in self.plans.items()}

    def claims(self) -> list[tuple[str, str]]:
        return [(p.name, p.claim) for p in self.properties]

    def open(self, subject, effort: str, max_examples: int | None = None,
             call_timeout: float | None = None, database: str | None = None,
             isolation: str | None = None, seed: int | None = None, **_) -> KernelSession:
        """A session on ``subject`` at ``effort``; ``isolation`` says where the kernel runs
        ("process", "none"; None: the subject's default, context.isolation_mode)."""
        if subject is None:
            raise NotApplicable("a suite of the kernel contract: give a kernel")
        isolate(subject, isolation)
        profile = self.plans[effort].adjusted(max_examples, call_timeout, database, seed)
        return KernelSession(self.name, self.properties, subject, profile, self.context)

    def hint(self, error: str, cases: list[dict]) -> str | None:
        return declaration_hint(error, cases)


CONTRACT = KernelSuite(
    "attention", "the kernel contract: out and lse against the certified oracles under derived "
    "budgets, exact rules, metamorphic and temperature laws", PROPERTIES, CONTRACT_PLANS)
GRADIENTS = KernelSuite(
    "gradients", "dq, dk, dv through torch autograd: against the exact gradients under derived "
    "budgets, exact rules of the backward call, and oracle-free identities",
    backward.PROPERTIES, GRADIENT_PLANS, context=GradientContext)
LONG_CONTEXTS = KernelSuite(
    "long_contexts", "out and lse on decode rows of 1e4..1e6 keys: keys on the sphere, attention "
    "sinks, geometric weights (exact in closed form)",
    [p for p in PROPERTIES if p.name in ("output_matches_oracle", "lse_matches_oracle")],
    LONG_CONTEXT_PLANS)


def reproduce(subject, name: str, recipe, device: str,
              isolation: str | None = None) -> tuple[str, bool]:
    """Re-run one case of one contract property (``attnspec reproduce``): the text to show,
    and whether the claim held. The kernel runs where ``isolation`` says (None: the subject's
    default), so that a case that crashed the kernel reproduces as the same verdict."""
    from attnspec.properties.engine.invoker import SubjectFailure

    suite = next(s for s in (CONTRACT, GRADIENTS) if name in {p.name for p in s.properties})
    prop = next(p for p in suite.properties if p.name == name)
    isolate(subject, isolation)
    context = suite.context(subject, suite.plans["ci"])
    head = f"{prop.name}: {prop.claim}\ncase: {recipe.describe()} on {device}"
    try:
        outcome = prop.check(context, recipe, device)
    except SubjectFailure as failure:
        return f"{head}\nVIOLATED: kernel {failure.kind}: {failure.message}", False
    verdict = "VIOLATED" if outcome.ratio > 1 else "held"
    return f"{head}\n{verdict}: worst error/tolerance {outcome.ratio:.3g}  {outcome.detail}", outcome.ratio <= 1
