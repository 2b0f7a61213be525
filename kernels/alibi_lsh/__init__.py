"""Kernels of paper 2, ALiBi as the expectation of random block masks (Wolfson, Wagner 2026).

torch only; never imports attnspec.oracles or attnspec.properties (the kernel has its own
sampler). docs/positional-lsh-kernel.md describes the kernel, its merge and its certificate.

- positional_lsh.py: ``positional_lsh_attention``, the ratio estimator over s sampled block masks per
  head, with its per-row certificate on request (the kernel of the contract, approximate).
- sampler.py: the torch samplers of the binning and gap-cut partitions (``sample_block_ids``,
  exactly the ids the kernel uses), masks from ids, block bounds.
- blockwise.py: plain attention inside the blocks of one partition, block by block, and the
  log-sum-exp merge of draws.
- certificate.py: the per-row certificate (exact kappa in O(s log s) per row, exact value
  diameter, an upper bound on the score range) and the lse bound.
- cost.py: the work of a draw (sum of block sizes squared, padded work) and 1^T P 1.
"""

from attnspec.kernels.alibi_lsh.positional_lsh import DEFAULT_SAMPLES, DEFAULT_SCHEME, positional_lsh_attention
from attnspec.kernels.alibi_lsh.sampler import SCHEMES, block_bounds, masks_from_block_ids, sample_block_ids

__all__ = [
    "DEFAULT_SAMPLES",
    "DEFAULT_SCHEME",
    "SCHEMES",
    "block_bounds",
    "masks_from_block_ids",
    "positional_lsh_attention",
    "sample_block_ids",
]
