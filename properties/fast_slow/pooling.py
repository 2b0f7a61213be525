"""Causal block-mean pooling against the exact means.

Claim (docs/claims.md section 4, [D]): the slow path pools the N = floor(T/P) complete blocks
by their means. Held against oracles/fast_slow/pooling.block_means (mpmath, exact in the
float inputs) within pooling_bound, gamma_(P+1) (1/P) sum |x_i| per block and channel (any
summation order, then one division or a product with a rounded 1/P); and bitwise on inputs
whose means are exact (small integers, P a power of two).
"""

from __future__ import annotations

import torch
from attnspec.kernels.fast_slow.pooling import block_mean
from attnspec.oracles.fast_slow.pooling import block_means, pooling_bound


def pooling_ratio(x: torch.Tensor, P: int) -> float:
    """max over batch rows, blocks and channels of |pooled - exact| / bound (0 when exact;
    inf if a nonzero error meets a zero bound). x [B, T, d]; <= 1 is the claim."""
    pooled = block_mean(x, P).double().cpu()
    u = torch.finfo(x.dtype).eps / 2
    worst = 0.0
    for b in range(x.shape[0]):
        rows = x[b].double().cpu().tolist()
        exact = block_means(rows, P)
        bound = pooling_bound(rows, P, u)
        for n, (er, br) in enumerate(zip(exact, bound)):
            for c, (e, bd) in enumerate(zip(er, br)):
                err = abs(float(pooled[b, n, c]) - e)
                if err:
                    worst = max(worst, float(err / bd) if bd else float("inf"))
    return worst
