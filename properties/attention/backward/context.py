"""The kernel under test as the backward properties see it: the forward context, with cases
that carry dO (attention/backward_case.py), calls through autograd, the exact gradients and
their budgets. Cases are drawn only on the devices whose backward the kernel declares."""

from __future__ import annotations

import torch
from hypothesis import assume
from hypothesis.control import currently_in_test_context

from attnspec.oracles.attention.error_budget import ErrorBudget
from attnspec.oracles.attention.exact_gradients import ExactGradients, exact_gradients
from attnspec.oracles.attention.gradient_budget import gradient_budget, largest_intermediate
from attnspec.oracles.attention.gradient_problem import GradientProblem
from attnspec.properties.attention.backward_case import BackwardCase, build_backward_case
from attnspec.properties.attention.calls import GradientCall, call_backward
from attnspec.properties.attention.cases import TORCH_DTYPES
from attnspec.properties.attention.conformance import precision_model
from attnspec.properties.attention.context import Context, case_tensors, restore_tensor
from attnspec.properties.attention.recipe import Recipe
from attnspec.properties.attention.reproducer import reproducer


class GradientContext(Context):
    def backward_case(self, recipe: Recipe, device: str) -> BackwardCase:
        """The case of ``recipe``; one whose gradients (or their intermediates) leave the
        range of its dtype is rejected: no kernel can compute them in it."""
        case = build_backward_case(recipe, device, self.spec.causal or "bottom_right")
        problem = case.problem(self.spec.causal, None if case.d_lse is None else
                               torch.from_numpy(case.d_lse))
        largest = largest_intermediate(problem)
        # half the range: a sum of two in-range terms, or one rounding up, stays finite
        in_range = largest < torch.finfo(TORCH_DTYPES[recipe.dtype]).max / 2
        if currently_in_test_context():
            assume(in_range)
        elif not in_range:  # attnspec reproduce, outside a search
            raise ValueError(f"this case's gradients reach {largest:.3g}, beyond what "
                             f"{recipe.dtype} can hold: no kernel can compute them in it")
        return case

    def call_backward(self, case: BackwardCase) -> GradientCall:
        """Forward and backward on a copy of the case (the originals stay as drawn)."""
        return self.call_backward_on_originals(case.clone())

    def call_backward_on_originals(self, case: BackwardCase) -> GradientCall:
        """Forward and backward on the case's own tensors: what the kernel writes to them (dO
        included) stays written, also when it runs in a worker process."""
        f = case.forward
        with self.invoker.writing_back(case_tensors(f) + [case.d_out], restore_tensor):
            return call_backward(self.invoker, self.subject.fn, f.q, f.k, f.v, f.kwargs,
                                 case.d_out, case.d_lse, case.recipe.describe(),
                                 self.profile.call_timeout_s)

    def gradient_problem(self, case: BackwardCase, call: GradientCall) -> GradientProblem:
        return case.problem(self.spec.causal, call.d_lse)

    def exact_gradients(self, problem: GradientProblem) -> ExactGradients:
        return exact_gradients(problem)

    def gradient_budget(self, problem: GradientProblem, dtype: str) -> ErrorBudget:
        return gradient_budget(problem, precision_model(self.spec, dtype))

    def reproducer(self, name: str, recipe: Recipe, device: str) -> dict:
        return reproducer(self.subject.selector, name, recipe, device, backward=True)

    # ------------------------------------------------------------------ for the driver
    def devices(self) -> list[str]:
        declared = self.spec.differentiable_on()
        return [d for d in self.subject.devices if d in declared]

    def unable(self) -> str | None:
        reason = super().unable()
        if reason is None and self.spec.backward and not self.devices():
            return (f"the kernel's backward is declared for {', '.join(self.spec.differentiable_on())}"
                    f" only, and no such device is present")
        return reason
