"""Canonical ALiBi slopes in torch, as kernels generate them.

Claim [L] (Press et al. 2022; ofirpress/attention_with_linear_biases): slope_h = 2^(-8h/H) for
H a power of two; otherwise the c = 2^floor(log2 H) slopes of the c-head rule followed by the
first H - c odd-indexed slopes of the 2c-head rule. Implemented here the way the reference code
does (powers of the first slope); held against the exact oracle in tests.
"""

from __future__ import annotations

import math

import torch


def _power_of_two_rule(n: int) -> list[float]:
    start = 2.0 ** (-8.0 / n)
    return [start ** (h + 1) for h in range(n)]


def alibi_slopes(
    num_heads: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """[num_heads] canonical slopes."""
    if num_heads < 1:
        raise ValueError(f"num_heads must be positive, got {num_heads}")
    c = 2 ** math.floor(math.log2(num_heads))
    slopes = _power_of_two_rule(c)
    if c < num_heads:
        slopes += _power_of_two_rule(2 * c)[0::2][: num_heads - c]
    return torch.tensor(slopes, dtype=torch.float64, device=device).to(dtype)
