"""FLOP counts of the fast-slow coupled layer, path by path, and the ratios the paper states.

Claims (docs/claims.md section 4; [P] "P^2 cheaper per layer", [D] the counts): a layer of
width d on T tokens with block P, N = floor(T/P) complete blocks (T a multiple of P where a
ratio is stated). A matrix product of [m, k] by [k, n] costs 2 m k n FLOPs (one multiply, one
add per term); softmax, the mask and the division are not counted.

    fast path: projections q, k, v, o        8 T d^2
               scores and weighted values    4 T^2 d          (the whole T x T matrix)
    slow path: block-mean pooling            N P d            (P - 1 adds and 1 divide per block
                                                               and channel; T d when P | T)
               projections on the N blocks   8 N d^2
               scores and weighted values    4 N^2 d
               gate and residual add         2 T d            (multiply and add per token)

    attention-matrix ratio   T^2 / N^2 = P^2
    causal-entry ratio       T (T + 1) / (N (N + 1)) = P^2 (T + 1) / (T + P)
    projection ratio         8 T d^2 / (8 N d^2) = P
    whole-layer ratio        (4 T^2 d + 8 T d^2) / (4 N^2 d + 8 N d^2 + 3 T d)   (fast / slow)

Exact rational arithmetic (Fraction); domain T, P, d positive integers.
"""

from __future__ import annotations

from fractions import Fraction


def fast_path_flops(T: int, d: int) -> dict[str, int]:
    """The fast path's FLOPs by part [D]."""
    return {"projections": 8 * T * d * d, "attention": 4 * T * T * d}


def slow_path_flops(T: int, P: int, d: int) -> dict[str, int]:
    """The slow path's FLOPs by part [D] (N = floor(T/P) complete blocks)."""
    N = T // P
    return {"pooling": N * P * d, "projections": 8 * N * d * d, "attention": 4 * N * N * d,
            "gate": 2 * T * d}


def causal_entries(L: int) -> int:
    """Entries of an L x L causal attention matrix on or below the diagonal: L (L + 1) / 2."""
    return L * (L + 1) // 2


def attention_matrix_ratio(T: int, P: int) -> Fraction:
    """T^2 / N^2, = P^2 when P divides T [P]."""
    return Fraction(T * T, (T // P) ** 2)


def causal_entry_ratio(T: int, P: int) -> Fraction:
    """T (T + 1) / (N (N + 1)) = P^2 (T + 1) / (T + P) when P divides T [D]."""
    return Fraction(causal_entries(T), causal_entries(T // P))


def causal_entry_ratio_closed_form(T: int, P: int) -> Fraction:
    """P^2 (T + 1) / (T + P) [D] (P | T)."""
    return Fraction(P * P * (T + 1), T + P)


def projection_ratio(T: int, P: int) -> Fraction:
    """8 T d^2 / (8 N d^2) = T / N, = P when P divides T [D]."""
    return Fraction(T, T // P)


def whole_layer_ratio(T: int, P: int, d: int) -> Fraction:
    """(4 T^2 d + 8 T d^2) / (4 N^2 d + 8 N d^2 + 3 T d), N = T / P [D] (P | T)."""
    N = Fraction(T, P)
    return Fraction(4 * T * T * d + 8 * T * d * d) / (4 * N * N * d + 8 * N * d * d + 3 * T * d)
