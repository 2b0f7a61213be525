"""One kernel under test, as the attention properties and the engine's driver see it.

The Context holds the loaded kernel, the plan of the effort (attention/profiles.py) and the
invoker, and gives the properties what they share: the case of a recipe, a call of the kernel
on a copy of it, the oracle's exact answer from the cheapest certain tier, and a float64
evaluation with the kernel's budgets for comparing a kernel with itself. For the driver it
draws (dtype, device, recipe), checks a case, and describes a finding with its reproducer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch
from hypothesis import strategies as st

from attnspec.kernels.spec import KernelSpec
from attnspec.oracles.attention.error_budget import ErrorBudget, error_budget
from attnspec.oracles.attention.exact import ExactAttention, exact_attention, exact_progression
from attnspec.oracles.attention.float64 import attention64
from attnspec.oracles.attention.problem import AttentionProblem
from attnspec.properties.attention.calls import Call, call_attention
from attnspec.properties.attention.cases import AttentionCase, build_case
from attnspec.properties.attention.conformance import precision_model
from attnspec.properties.attention.profiles import Profile
from attnspec.properties.attention.recipe import Recipe
from attnspec.properties.attention.reproducer import reproducer
from attnspec.properties.engine.invoker import Invoker
from attnspec.properties.engine.results import Finding


@dataclass
class Approximation:
    """float64 outputs and the kernel's budgets for them: for comparing a kernel with itself."""

    out: np.ndarray
    lse: np.ndarray
    empty: np.ndarray
    budget: ErrorBudget


class Context:
    """One kernel under test, its invoker and plan; shared by all properties of a run."""

    def __init__(self, subject, profile: Profile):
        self.subject = subject
        self.spec: KernelSpec = subject.spec
        self.profile = profile
        self.invoker: Invoker = subject.invoker  # one per kernel: a hang is remembered by all

    # ------------------------------------------------------------------ for the properties
    def case(self, recipe: Recipe, device: str) -> AttentionCase:
        return build_case(recipe, device)

    def call(self, case: AttentionCase) -> Call:
        """Call the kernel on a copy: a kernel that writes to its inputs must not change what
        the oracle and the other comparisons see (inputs_unchanged calls it on the originals)."""
        return self.call_on_originals(case.clone())

    def call_on_originals(self, case: AttentionCase) -> Call:
        return call_attention(self.invoker, self.subject.fn, case.q, case.k, case.v, case.kwargs,
                              case.recipe.describe(), self.profile.call_timeout_s)

    def problem(self, case: AttentionCase) -> AttentionProblem:
        return case.problem(self.spec.causal)

    def exact(self, case: AttentionCase) -> tuple[AttentionProblem, ExactAttention]:
        problem = self.problem(case)
        r = case.recipe
        if r.keys == "progression":
            closed = exact_progression(problem, r.beta, r.variant >= 0.5)
            if closed is not None:
                return problem, closed
        return problem, exact_attention(problem)

    def approximate(self, case: AttentionCase, lse_dtype: str | None = None) -> Approximation:
        problem = self.problem(case)
        out, lse, empty = attention64(problem)
        model = precision_model(self.spec, case.recipe.dtype, lse_dtype)
        return Approximation(out, lse, empty, error_budget(problem, out, model, exact_lse=lse))

    # ------------------------------------------------------------------ for the driver
    @property
    def declaration(self) -> KernelSpec:
        return self.spec

    def unable(self) -> str | None:
        if self.invoker.hung_on is not None:
            return f"the kernel hung earlier (on {self.invoker.hung_on})"
        if not self.subject.devices:
            return "none of the declared devices is present"
        return None

    def devices(self) -> list[str]:
        """The devices cases are drawn on: those declared and present."""
        return list(self.subject.devices)

    def draw_case(self, prop, draw) -> tuple[Recipe, str]:
        dtype = draw(st.sampled_from(self.spec.dtypes), label="dtype")
        device = draw(st.sampled_from(self.devices()), label="device")
        recipe = draw(prop.draw(self.spec, dtype, self.profile.limits), label="recipe")
        return recipe, device

    def case_key(self, case) -> tuple[str, str]:
        recipe, device = case
        return recipe.to_json(), device

    def check_case(self, prop, case):
        recipe, device = case
        return prop.check(self, recipe, device)

    def finding(self, prop, case, outcome) -> Finding:
        recipe, device = case
        return Finding(outcome.ratio, outcome.detail, recipe.describe(), device, recipe.dtype,
                       json.loads(recipe.to_json()), self.reproducer(prop.name, recipe, device))

    def reproducer(self, name: str, recipe: Recipe, device: str) -> dict:
        return reproducer(self.subject.selector, name, recipe, device)


def as_float64(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()
