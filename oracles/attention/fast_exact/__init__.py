"""Oracle tier 2: exact attention and its gradients at realistic shapes, good to ~30 digits with
a stated bound.

    driver           fast_exact_attention: exact products, double-double softmax, the bound
    scores           the score differences s_j - m in double-double, exactly rounded products
    bounds           the error bound's terms and the choice of Ozaki levels
    softcap          softcap's tanh in double-double with its error
    tier_comparison  tier 2 held against tier 1 (the tests, benchmarks and docs/oracles.md)
    gradients        fast_exact_gradients: dQ, dK, dV in double-double with a derived bound
    dd_products      double-double matrix times float64 matrix, exact levels and a bound
    dd_kernels       in-place double-double array operations and a bounded pairwise row sum
"""

from attnspec.oracles.attention.fast_exact.driver import (RESOLVABLE_SIGMA, FastExactAttention,
                                                          fast_exact_attention)

__all__ = ["RESOLVABLE_SIGMA", "FastExactAttention", "fast_exact_attention"]
