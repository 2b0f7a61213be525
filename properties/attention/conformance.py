"""Compare a kernel's output with the oracle under the derived error budget.

An element conforms when |kernel - exact| <= min(worst-case bound, probabilistic bound): the
worst-case bound is never exceeded by a correct kernel; the probabilistic one holds with the
budget's stated false-alarm rate and is usually the tighter (oracles/attention/error_budget.py).
The result names the worst element, its error, its budget and which bound it broke, so a report
can say exactly where a kernel went wrong. Errors are held to budgets by the engine's one
error / tolerance rule (properties/engine/ratio.py).

For an approximate kernel (``"approximation": "certificate"``) each call's certificate, the
kernel's own per-row bound on what its approximation moves out and lse, is added to both bounds
(``with_certificate``): |kernel - exact| <= certificate + rounding budget.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from attnspec.oracles.attention.error_budget import ErrorBudget, PrecisionModel, error_budget
from attnspec.oracles.attention.exact import ExactAttention
from attnspec.oracles.attention.problem import AttentionProblem
from attnspec.properties.attention.calls import Certificate
from attnspec.properties.engine.ratio import worst_element


@dataclass(frozen=True)
class Mismatch:
    """The worst element of one output tensor against its budget."""

    ratio: float  # error / budget (inf: a non-finite value, or an error where none is allowed)
    tensor: str  # "out" or "lse"
    index: tuple[int, ...]
    kernel_value: float
    exact_value: float
    error: float
    budget: float
    bound: str  # which bound set the budget: "worst-case" or "probabilistic"

    def describe(self) -> str:
        idx = ",".join(map(str, self.index))
        return (
            f"{self.tensor}[{idx}] = {self.kernel_value!r}, exact {self.exact_value!r}: "
            f"error {self.error:.3g} vs {self.bound} budget {self.budget:.3g} "
            f"({self.ratio:.3g}x)"
        )


def precision_model(spec, dtype: str, lse_dtype: str | None = None) -> PrecisionModel:
    return PrecisionModel(
        input_dtype=dtype,
        accumulation_dtype=spec.accumulation_for(dtype),
        rounds_p=spec.rounds_p_for(dtype),
        lse_dtype=lse_dtype,
    )


def budget_for(problem: AttentionProblem, exact: ExactAttention, model: PrecisionModel) -> ErrorBudget:
    return error_budget(problem, exact.out, model, exact_lse=exact.lse)


def with_certificate(budget: ErrorBudget, certificate: Certificate | None) -> ErrorBudget:
    """``budget`` widened by an approximate kernel's certificate (None: unchanged): the
    certificate bounds |kernel - exact| from the approximation alone, the budget from rounding
    alone, and the two errors add (triangle inequality), so the sum is added to each of the
    worst-case and probabilistic bounds; min(a + c, b + c) = min(a, b) + c keeps ``in_force``
    the same rule. The row bound of out covers every value dim of the row."""
    if certificate is None:
        return budget
    added = {"out": certificate.out[..., None]}  # [B, Hq, Lq, 1]: one bound per row
    if certificate.lse is not None and "lse" in budget.worst_case:
        added["lse"] = certificate.lse
    widened = ({**bounds, **{name: bounds[name] + extra for name, extra in added.items()}}
               for bounds in (budget.worst_case, budget.probabilistic))
    return ErrorBudget(*widened, budget.false_alarm, budget.hoeffding_lambda)


def tensor_mismatch(
    tensor: str,
    kernel_values: np.ndarray,
    exact_values: np.ndarray,
    budget: ErrorBudget,
    compare: np.ndarray | None = None,
) -> Mismatch | None:
    """The element of ``tensor`` with the largest error / budget among ``compare`` (default:
    all), or None when nothing is compared."""
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(kernel_values - exact_values)
    same_infinity = np.isinf(exact_values) & (kernel_values == exact_values)
    error = np.where(same_infinity, 0.0, error)
    in_force = budget.in_force(tensor)
    found = worst_element(error, in_force, compare)
    if found is None:
        return None
    ratio, index = found
    return Mismatch(
        ratio=ratio,
        tensor=tensor,
        index=index,
        kernel_value=float(kernel_values[index]),
        exact_value=float(exact_values[index]),
        error=float(np.where(np.isnan(error), np.inf, error)[index]),
        budget=float(in_force[index]),
        bound=budget.bound_at(tensor, index),
    )


def compare_with_oracle(
    problem: AttentionProblem,
    exact: ExactAttention,
    spec,
    dtype: str,
    out: torch.Tensor,
    lse: torch.Tensor | None = None,
    certificate: Certificate | None = None,
) -> list[Mismatch]:
    """Worst mismatch of out (and lse) over the non-empty rows; empty rows are their own claim.
    An approximate kernel's ``certificate`` (of the call that gave out and lse) widens the
    budget by its row bounds."""
    lse_dtype = None if lse is None else str(lse.dtype).removeprefix("torch.")
    budget = budget_for(problem, exact, precision_model(spec, dtype, lse_dtype))
    budget = with_certificate(budget, certificate)
    rows = ~exact.empty  # [B, Hq, Lq]
    kernel_out = out.detach().to("cpu", torch.float64).numpy()
    found = [tensor_mismatch("out", kernel_out, exact.out, budget,
                             np.broadcast_to(rows[..., None], exact.out.shape))]
    if lse is not None:
        kernel_lse = lse.detach().to("cpu", torch.float64).numpy()
        found.append(tensor_mismatch("lse", kernel_lse, exact.lse, budget, rows))
    found = [m for m in found if m is not None]
    if certificate is not None:  # the report says the kernel's own bound is in the budget
        found = [replace(m, bound=f"{m.bound} + certificate") for m in found]
    return found


def worst_ratio(mismatches: list[Mismatch]) -> float:
    return max((m.ratio for m in mismatches), default=0.0)
