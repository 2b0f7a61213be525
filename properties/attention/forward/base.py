"""What a property is, and the tools every property's check uses.

A Property names one claim of the contract, says when it applies to a kernel (and why not
otherwise), draws its cases, and checks one case, returning the worst error relative to its
tolerance (<= 1 holds). Tolerances always come from the error budget (oracles/attention/error_budget.py)
or are exact (0: bitwise claims).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from hypothesis import strategies as st

from attnspec.kernels.spec import KernelSpec
from attnspec.oracles.attention.error_budget import ErrorBudget, error_budget
from attnspec.oracles.attention.problem import AttentionProblem

from attnspec.properties.attention.cases import AttentionCase, build_case
from attnspec.properties.attention.conformance import precision_model
from attnspec.properties.engine.invoker import Call, Invoker
from attnspec.oracles.attention.exact import ExactAttention, exact_attention, exact_progression
from attnspec.properties.attention.profiles import Profile
from attnspec.properties.attention.recipe import Recipe
from attnspec.oracles.attention.float64 import attention64
from attnspec.properties.attention.strategies import Limits, recipes


@dataclass(frozen=True)
class Outcome:
    ratio: float  # worst error / tolerance; <= 1 holds
    detail: str = ""  # where and how, for the report


HELD = Outcome(0.0)


@dataclass(frozen=True)
class Property:
    name: str
    claim: str
    applies: Callable[[KernelSpec], str | None]  # None, or why it does not apply
    draw: Callable[[KernelSpec, str, Limits], st.SearchStrategy[Recipe]]
    check: Callable[["Context", Recipe, str], Outcome]


CATALOG: dict[str, Property] = {}


def always(spec: KernelSpec) -> str | None:
    return None


def default_draw(spec: KernelSpec, dtype: str, limits: Limits):
    return recipes(spec, dtype, limits)


def claim(name: str, statement: str, applies=always, draw=default_draw):
    """Register the decorated check as the property ``name``."""

    def register(check):
        if name in CATALOG:
            raise ValueError(f"property {name!r} registered twice")
        CATALOG[name] = Property(name, statement, applies, draw, check)
        return check

    return register


@dataclass
class Approximation:
    """float64 outputs and the kernel's budgets for them: for comparing a kernel with itself."""

    out: np.ndarray
    lse: np.ndarray
    empty: np.ndarray
    budget: ErrorBudget


class Context:
    """One kernel under test, its invoker and profile; shared by all properties of a run."""

    def __init__(self, subject, profile: Profile, invoker: Invoker | None = None):
        self.subject = subject
        self.spec: KernelSpec = subject.spec
        self.profile = profile
        self.call_kernel = invoker or Invoker(subject, profile.call_timeout_s)

    def case(self, recipe: Recipe, device: str) -> AttentionCase:
        return build_case(recipe, device)

    def call(self, case: AttentionCase) -> Call:
        """Call the kernel on a copy: a kernel that writes to its inputs must not change what
        the oracle and the other comparisons see (inputs_unchanged calls it on the originals)."""
        return self.call_kernel(case.clone())

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


def budget_of(b: ErrorBudget, tensor: str) -> np.ndarray:
    """The element-wise budget in force: the tighter of the worst-case and probabilistic."""
    if tensor == "out":
        return np.minimum(b.out_worst_case, b.out_probabilistic)
    return np.minimum(b.lse_worst_case, b.lse_probabilistic)


def as_float64(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


def fmt_index(idx) -> str:
    """[1,0,3] from a numpy index tuple (no np.int64 reprs in reports)."""
    return "[" + ",".join(str(int(i)) for i in idx) + "]"


def ratio_of(difference: np.ndarray, tolerance: np.ndarray, label: str,
             compare: np.ndarray | None = None) -> Outcome:
    """Worst |difference| / tolerance over ``compare``. A NaN difference counts as infinite, and
    so does a nonzero difference against a NaN tolerance (tolerances built from the kernel's own
    outputs, as in the LSE merge, are NaN when those outputs are)."""
    diff = np.abs(difference)
    diff = np.where(np.isnan(diff), np.inf, diff)
    if compare is not None:
        diff = np.where(compare, diff, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(diff == 0, 0.0, diff / tolerance)
    r = np.where(np.isnan(r), np.inf, r)
    if r.size == 0:
        return HELD
    idx = np.unravel_index(int(np.argmax(r)), r.shape)
    worst = float(r[idx])
    return Outcome(worst, f"{label}{fmt_index(idx)}: difference {float(diff[idx]):.3g} vs tolerance "
                          f"{float(tolerance[idx]):.3g}")


def worst(*outcomes: Outcome) -> Outcome:
    return max(outcomes, key=lambda o: o.ratio, default=HELD)
