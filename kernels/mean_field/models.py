"""The four token models as calls of the kernel contract: each model's velocity is one attention
call on inputs built from the tokens, with no attention code of its own.

Tokens x [B, n, d] (B independent runs, float64), inverse temperature beta:

    plain     q = k = v = x,                                scale beta
    logit_pe  q = [x, (gamma / beta) z], k = [x, z], v = x,  scale beta: the score beta<q_i, k_j>
              is beta <x_i, x_j> + gamma <z_i, z_j> (positional encoding in the logits through
              extra feature dimensions)
    additive  q = k = v = h = x + z C^T,                    scale beta (through the inputs)
    prompt    keys and values [x_1..x_n, p_1..p_n]; q_i = [x_i, 1], k_j = [x_j, 0] for tokens,
              [p_i, log(n lambda) / beta] for prompts (so the prompt's score is
              beta <x_i, p_i> + log(n lambda): weight n lambda), v = [x; p]; a mask lets token i
              see every token and its own prompt only

The attention output is the SA average a_i = grad_i E / Z_i. SA moves at P_(x_i) a_i; USA at
P_(x_i)(Z_i a_i) / n, with Z_i = exp(lse_i) from the kernel's log-sum-exp (return_lse=True).
What each model needs of a kernel: ``scale`` (or q pre-multiplied by beta sqrt(D)), head dims
d (plain, additive), d + m (logit_pe), d + 1 (prompt), a boolean ``mask`` (prompt), and ``lse``
(every USA flow). [L, Geshkovski et al. 2023; D, docs/claims.md section 3.]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

KINDS = ("plain", "logit_pe", "additive", "prompt")


@dataclass(frozen=True)
class TokenModel:
    """One model; tensors are [B, n, m] / [n, m] (z), [d, m] (C), [B, n, d] / [n, d] (prompts)."""

    kind: str
    beta: float
    normalisation: str = "SA"  # "SA" or "USA"
    gamma: float = 0.0
    z: torch.Tensor | None = None
    C: torch.Tensor | None = None
    prompts: torch.Tensor | None = None
    lam: float = 0.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        if self.normalisation not in ("SA", "USA"):
            raise ValueError("normalisation must be SA or USA")

    def needs(self) -> tuple[str, ...]:
        """The contract capabilities the model's flow calls on, beyond scale."""
        return (("mask",) if self.kind == "prompt" else ()) + (("lse",) if self.normalisation == "USA" else ())

    def head_dim(self, d: int) -> int:
        """Feature dimension of q and k for tokens on S^(d-1)."""
        if self.kind == "logit_pe":
            return d + self.z.shape[-1]
        return d + 1 if self.kind == "prompt" else d


@dataclass
class AttentionCall:
    """q [B, 1, n, D], k [B, 1, Lk, D], v [B, 1, Lk, d], mask [1, 1, n, Lk] or None."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    scale: float
    mask: torch.Tensor | None


def _batched(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    t = t.to(like.device, like.dtype)
    return t.expand(like.shape[0], *t.shape[-2:]) if t.dim() == 2 else t


def attention_call(model: TokenModel, x: torch.Tensor) -> AttentionCall:
    """The contract call whose output row i is the SA average a_i at tokens x [B, n, d]."""
    B, n, d = x.shape
    beta = float(model.beta)
    if model.kind == "plain":
        q = k = v = x
    elif model.kind == "logit_pe":
        z = _batched(model.z, x)
        q = torch.cat([x, (model.gamma / beta) * z], dim=-1)
        k = torch.cat([x, z], dim=-1)
        v = x
    elif model.kind == "additive":
        h = x + _batched(model.z, x) @ model.C.to(x.device, x.dtype).T
        q = k = v = h
    else:
        p = _batched(model.prompts, x)
        q = torch.cat([x, torch.ones_like(x[..., :1])], dim=-1)
        k = torch.cat([torch.cat([x, torch.zeros_like(x[..., :1])], dim=-1),
                       torch.cat([p, torch.full_like(p[..., :1], math.log(n * model.lam) / beta)], dim=-1)],
                      dim=1)
        v = torch.cat([x, p], dim=1)
    mask = None
    if model.kind == "prompt":
        i = torch.arange(n, device=x.device)[:, None]
        j = torch.arange(2 * n, device=x.device)[None, :]
        mask = ((j < n) | (j == n + i))[None, None]  # [1, 1, n, 2n]
    return AttentionCall(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1), beta, mask)
