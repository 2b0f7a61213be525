"""The work of the positional-LSH kernel, counted in score entries (query-key pairs).

Claim [D] (docs/claims.md section 2): one draw's mask costs sum over its blocks of size^2 score
entries (non-causal), and E[sum size^2] = 1^T P 1 = n (1 + rho)/(1 - rho) - 2 rho (1 - rho^n)/(1 - rho)^2
for either scheme, since E[M_ij] = P_ij. ``padded_entries`` counts what blockwise.py actually
computes (blocks padded to the longest of their size group, blockwise.size_group).
"""

from __future__ import annotations

import math

import torch

from attnspec.kernels.alibi_lsh.blockwise import size_group


def ones_p_ones(n: int, slope: float) -> float:
    """1^T P 1 for the n x n KMS matrix P_ij = e^(-slope |i-j|) (closed form)."""
    rho = math.exp(-slope)
    one_minus = -math.expm1(-slope)
    return n * (1 + rho) / one_minus - 2 * rho * (-math.expm1(-slope * n)) / one_minus ** 2


def block_entries(ids: torch.Tensor) -> torch.Tensor:
    """int64[s]: sum over the blocks of each draw of size^2, for ids int64[s, n]."""
    return torch.stack([torch.bincount(row).pow(2).sum() for row in ids])


def padded_entries(ids: torch.Tensor) -> torch.Tensor:
    """int64[s]: the score entries blockwise.py computes for each draw (Lq = Lk = n): each
    size group of blocks padded to its longest block, rows and keys."""
    totals = []
    for row in ids:
        length = torch.bincount(row)
        length = length[length > 0]
        group = size_group(length)
        total = 0
        for g in torch.unique(group).tolist():
            members = length[group == g]
            total += members.numel() * int(members.max()) ** 2
        totals.append(total)
    return torch.tensor(totals, dtype=torch.int64)
