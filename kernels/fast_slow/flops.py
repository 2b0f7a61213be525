"""FLOP counter of the coupled layer, by path and part, from the shapes its code multiplies.

Counted as the layer computes them (layer.py): a product of [m, k] by [k, n] is 2 m k n FLOPs;
softmax, masks and the gather of slow rows are not counted. Per sequence, width d, N = floor(T/P)
pooled blocks:

    fast: projections 4 x (T, d) @ (d, d); attention: scores (T, d) @ (d, T) and weights
          (T, T) @ (T, d), summed over heads (the whole T x T matrix, as a dense kernel does)
    slow: pooling N P d (P - 1 adds and one divide per block and channel); projections
          4 x (N, d) @ (d, d); attention (N x N, as above); gate multiply and add 2 T d

The own_block rule's trailing partial block is not counted (it is a negative control).
oracles/fast_slow/flops.py states the paper's formulas separately; the properties compare.
"""

from __future__ import annotations


def _matmul(m: int, k: int, n: int) -> int:
    return 2 * m * k * n


def layer_flops(T: int, P: int, d: int, batch: int = 1) -> dict[str, dict[str, int]]:
    """{"fast": {...}, "slow": {...}} FLOPs by part for ``batch`` sequences of T tokens."""
    N = T // P
    fast = {"projections": 4 * _matmul(T, d, d),
            "attention": _matmul(T, d, T) + _matmul(T, T, d)}
    slow = {"pooling": N * P * d,
            "projections": 4 * _matmul(N, d, d),
            "attention": _matmul(N, d, N) + _matmul(N, N, d),
            "gate": 2 * T * d}
    return {path: {part: batch * n for part, n in parts.items()}
            for path, parts in (("fast", fast), ("slow", slow))}


def path_total(flops: dict[str, dict[str, int]], path: str) -> int:
    """The total of one path."""
    return sum(flops[path].values())
