"""Oracles of paper 2, ALiBi as the expectation of random block masks (Wolfson, Wagner 2026).

The multiplicative ALiBi matrix P = exp(B), P_ij = e^(-slope |i - j|), is the expectation of
random contiguous block-diagonal binary masks; the ratio estimator built on the mean of s masks
approximates ALiBi attention with an error bound computable from the masks alone
(docs/claims.md section 2, docs/positional-lsh.md). One concept per module; each function's
docstring states its claim, provenance tag, domain and precision. numpy float64 and mpmath only.

    schemes      samplers of the block partitions: the paper's random binning (as the authors'
                 code draws it), gap cuts, the code's fixed-block variant; masks, their mean
    expectation  E[M] = P: closed form, enumeration of all cut patterns and quadrature over the
                 width in mpmath; the expected mask of a contract problem (offset, causal)
    certificate  the ratio estimator, its exact error identity and the per-row certificate
                 e^(R_i) diam(V) kappa_i
    kms          Kac-Murdock-Szego facts: spectrum interval, tridiagonal inverse, 1^T P 1 (the
                 expected cost of one mask)
    block_widths the width law, the largest block over s draws, the gap-cut cap and its bias
    spectral_bounds  the paper's bounds on ||L' - L||_2 (Psi), Hoeffding max-norm and
                 matrix-Bernstein thresholds

Imports neither torch nor attnspec.kernels.
"""

from attnspec.oracles.alibi_lsh import block_widths, certificate, expectation, kms, schemes, spectral_bounds

__all__ = ["block_widths", "certificate", "expectation", "kms", "schemes", "spectral_bounds"]
