"""A backward test case: the forward case of a recipe and the gradients fed into its outputs.

dO is drawn from ``numpy.random.default_rng([recipe.seed, 1])`` (a stream of its own, so the
forward tensors are those of the same recipe's forward case), in q's dtype and the recipe's
``grad_layout``. ``grad_out="orthogonal"`` removes from each row of dO its component along that
row of the output (float64 forward), then rounds: <dO_i, O_i> is then ~0 and forming it from
the rounded output cancels nearly all of it. With return_lse, dlse ~ N(0, 1) per row, made a
tensor of the lse's dtype when the kernel returns it (the oracle sees that tensor's values).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from attnspec.oracles.attention.float64 import attention64
from attnspec.oracles.attention.gradient_problem import GradientProblem
from attnspec.properties.attention.cases import (TORCH_DTYPES, AttentionCase, build_case,
                                                 clone_like, place)
from attnspec.properties.attention.recipe import Recipe

GRAD_OUTS = ("normal", "orthogonal")


@dataclass
class BackwardCase:
    forward: AttentionCase
    d_out: torch.Tensor  # [B, Hq, Lq, Dv], q's dtype and device
    d_lse: np.ndarray | None  # [B, Hq, Lq] float64, or None without return_lse

    @property
    def recipe(self) -> Recipe:
        return self.forward.recipe

    def clone(self) -> "BackwardCase":
        d_lse = None if self.d_lse is None else self.d_lse.copy()
        return BackwardCase(self.forward.clone(), clone_like(self.d_out), d_lse)

    def problem(self, alignment: str | None, d_lse_used: torch.Tensor | None) -> GradientProblem:
        """The oracle's exact view; ``d_lse_used`` is the dlse tensor the call fed the kernel."""
        d_lse = None if d_lse_used is None else d_lse_used.detach().to("cpu", torch.float64).numpy()
        return GradientProblem.build(self.forward.problem(alignment),
                                     self.d_out.detach().to("cpu", torch.float64).numpy(), d_lse)


def build_backward_case(recipe: Recipe, device: str | torch.device = "cpu",
                        alignment: str | None = "bottom_right") -> BackwardCase:
    """The case of ``recipe`` with its dO (and dlse); ``alignment`` is the kernel's causal rule,
    needed for the output that "orthogonal" removes from dO."""
    if recipe.grad_out not in GRAD_OUTS:
        raise ValueError(f"unknown grad_out {recipe.grad_out!r}; known: {', '.join(GRAD_OUTS)}")
    forward = build_case(recipe, device)
    rng = np.random.default_rng([recipe.seed, 1])
    B, Hq, Lq, Dv = recipe.batch, recipe.q_heads, recipe.q_len, recipe.value_dim
    d_out = rng.standard_normal((B, Hq, Lq, Dv))
    d_lse = rng.standard_normal((B, Hq, Lq)) if recipe.return_lse else None
    if recipe.grad_out == "orthogonal":
        out, _, _ = attention64(forward.problem(alignment))
        norm2 = np.sum(out * out, axis=-1, keepdims=True)
        along = np.divide(np.sum(d_out * out, axis=-1, keepdims=True), norm2,
                          out=np.zeros_like(norm2), where=norm2 > 0)
        d_out = d_out - along * out
    d_out_t = place(d_out, TORCH_DTYPES[recipe.dtype], device, recipe.grad_layout)
    return BackwardCase(forward, d_out_t, d_lse)
