"""Causal block-mean pooling and the slow path's read index, in torch.

Claim ([D], docs/claims.md section 4): with block P, block b holds tokens bP .. bP + P - 1;
its mean is pooled once the block is complete. Token t may read the last complete block,
b* = floor((t + 1)/P) - 1 (-1: none complete, the token reads an explicit zero). The other two
read rules exist only as negative controls (docs/fast-slow.md): "own_block" reads block
floor(t/P), pooled over every token of it that exists (future ones included: a leak), and
"bidirectional" reads b* of a slow attention that is not causal over blocks (a leak).

oracles/fast_slow/read_rule.py states the same rules as read sets, separately.
"""

from __future__ import annotations

import torch

READ_RULES = ("complete", "own_block", "bidirectional")


def block_mean(x: torch.Tensor, P: int, *, partial: bool = False) -> torch.Tensor:
    """[B, T, d] -> [B, N, d]: means of the N = floor(T/P) complete blocks, in x's dtype; with
    ``partial`` also the mean of a trailing incomplete block (N = ceil(T/P); own_block only)."""
    B, T, d = x.shape
    N = T // P
    pooled = x[:, : N * P].reshape(B, N, P, d).mean(dim=2)  # [B, N, d]
    if partial and T % P:
        tail = x[:, N * P:].mean(dim=1, keepdim=True)  # [B, 1, d]
        pooled = torch.cat([pooled, tail], dim=1)
    return pooled


def read_index(T: int, P: int, rule: str, device) -> torch.Tensor:
    """[T] int64: the pooled row token t reads under ``rule``; -1 reads an explicit zero."""
    if rule not in READ_RULES:
        raise ValueError(f"unknown read rule {rule!r}; rules: {', '.join(READ_RULES)}")
    t = torch.arange(T, device=device)
    if rule == "own_block":
        return torch.div(t, P, rounding_mode="floor")
    return torch.div(t + 1, P, rounding_mode="floor") - 1
