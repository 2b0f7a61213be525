"""The backward problem an oracle solves: a forward problem and the gradients fed into it.

Claim (docs/kernel-contract.md "Gradients"): a kernel that declares ``backward`` is called on q,
k, v with requires_grad, and attnspec takes the gradients of the scalar

    L = <dO, out> + <dlse, lse>        (the second term only when the kernel returns lse)

with respect to q, k and v. With P the softmax weights over visible keys, O = P V:

    dV = P^T dO                               summed over the query heads of each kv head
    dP = dO V^T,  D_i = sum_c dO_ic O_ic - dlse_i,  dS = P o (dP - D)
    dR = dS o (1 - tanh^2(r / c)) under softcap c (r = scale <q, k>), else dR = dS
    dQ = scale dR K,  dK = scale dR^T Q       (dK summed over the query heads of each kv head)

A row with no visible key contributes nothing (its dQ row is 0; its lse = -inf takes no dlse).
Masks and ALiBi slopes take no gradient.

As for the forward problem, every input is held as its exact float64 value (problem.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnspec.oracles.attention.problem import AttentionProblem, exact_float64


@dataclass(frozen=True)
class GradientProblem:
    """``forward`` and the incoming gradients: d_out [B, Hq, Lq, Dv] (dO) and d_lse
    [B, Hq, Lq] (dlse; None when the kernel returns no lse, the same as zeros)."""

    forward: AttentionProblem
    d_out: np.ndarray
    d_lse: np.ndarray | None = None

    @classmethod
    def build(cls, forward: AttentionProblem, d_out, d_lse=None) -> "GradientProblem":
        p = forward
        d_out = exact_float64("d_out", d_out, 4)
        expected = (p.batch, p.q_heads, p.q_len, p.value_dim)
        if d_out.shape != expected:
            raise ValueError(f"d_out has shape {d_out.shape}, expected {expected} (that of out)")
        if d_lse is not None:
            d_lse = exact_float64("d_lse", d_lse, 3)
            if d_lse.shape != expected[:3]:
                raise ValueError(f"d_lse has shape {d_lse.shape}, expected {expected[:3]}")
        return cls(p, d_out, d_lse)

    def d_lse_or_zeros(self) -> np.ndarray:
        """[B, Hq, Lq]: d_lse, or zeros when the kernel returns no lse."""
        if self.d_lse is None:
            p = self.forward
            return np.zeros((p.batch, p.q_heads, p.q_len))
        return self.d_lse
