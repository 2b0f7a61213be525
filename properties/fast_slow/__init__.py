"""Properties of paper 4, fast-slow coupled attention (Gao 2026; docs/claims.md section 4).

Checks of the coupled layer (kernels/fast_slow) and of the fast-slow theory against the oracles
(oracles/fast_slow). Each module's docstring states its claims, their tags and where its
tolerances come from; the tests in tests/properties/fast_slow drive them with hypothesis and
hold the leaking read rules as negative controls. One concept per module:

    read_sets   causality bitwise for every perturbed token, and the measured read set of each
                output against the oracle's, for each read rule
    gate        gate zero gives the fast path bitwise and ignores the slow parameters; d out/d g
    pooling     block means against exact means, within a derived rounding bound
    flops       the FLOP counter against the paper's formulas and against torch's FlopCounterMode
    stationary  a kernel's attention iterated on one-hot values against the oracle's stationary
                law, within a derived tolerance (any contract kernel: the reference, SDPA)
    tracking    the fast-slow ODE (slope of the tracking error, the corrector, the initial
                layer) and the discrete block-pooled analogue against its prediction
    suite       the fast_slow suite (properties/suites.py): the layer built on a user's kernel
                (no future leak, gate zero) and the kernel's attention as a Markov kernel

Usage:

    from attnspec.kernels.fast_slow import FastSlowLayer
    from attnspec.properties.fast_slow import check_fast_slow
    from attnspec.properties.fast_slow.read_sets import check_read_sets, dependence
    layer = FastSlowLayer(64, 4, 16)                       # read_rule="complete"
    found = check_read_sets(dependence(layer, x), 16, "complete", whole_layer=True)
    assert found.causal and found.exact
    check_fast_slow(my_kernel, "ci")    # or: attnspec check my.module:kernel --suite fast_slow
"""

from attnspec.properties.fast_slow.suite import FAST_SLOW, check_fast_slow

__all__ = ["FAST_SLOW", "check_fast_slow"]
