"""Kernels of paper 4, fast-slow coupled attention (Gao 2026; docs/claims.md section 4).

The coupled layer as docs/fast-slow.md reconstructs it from the abstract, in torch (CPU and
CUDA, no device hard-coded), with both attentions through any contract kernel. One concept per
module:

    layer              FastSlowLayer: fast causal attention + zero-initialised gate * slow
                       attention over causally pooled blocks, read only from complete blocks
                       (read_rule: "complete" by default; "own_block", "bidirectional" are the
                       leaking negative controls)
    pooling            causal block-mean pooling and the read index b*(t) = floor((t + 1)/P) - 1
    flops              the FLOP counter of each path, by part
    discrete_analogue  the discrete block-pooled fast-slow recursion (eps = 1/P), token by token

Imports neither attnspec.oracles nor attnspec.properties (the attention wing's dense kernel is
the default attention).
"""

from attnspec.kernels.fast_slow.discrete_analogue import AnalogueRun, run_analogue
from attnspec.kernels.fast_slow.flops import layer_flops, path_total
from attnspec.kernels.fast_slow.layer import FastSlowLayer
from attnspec.kernels.fast_slow.pooling import READ_RULES, block_mean, read_index

__all__ = [
           "READ_RULES",
           "AnalogueRun",
           "FastSlowLayer",
           "block_mean",
           "layer_flops",
           "path_total",
           "read_index",
           "run_analogue",
]
