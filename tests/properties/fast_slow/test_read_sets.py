"""Causality, bitwise, for every perturbed token, and the exact read set of each read rule.

hypothesis over T in [1, 20] and P in [1, 8] (T < P, T = P, T not a multiple of P all drawn);
the causal rule must leak nothing and read exactly its oracle read set; the two leaking rules
must be flagged wherever oracles/fast_slow/read_rule.leaks says they can leak (negative
controls), and their measured read sets must be exactly theirs too.
"""

import pytest
import torch
from attnspec.kernels.fast_slow.layer import FastSlowLayer
from attnspec.kernels.registry import BUILTINS, present_devices
from attnspec.oracles.fast_slow.read_rule import leaks
from attnspec.properties.fast_slow.read_sets import check_read_sets, dependence
from hypothesis import given, settings
from hypothesis import strategies as st

DEVICE = present_devices()[-1]  # CUDA where present, else CPU


def layer_and_input(T, P, rule, seed, attention=None, dtype=torch.float32):
    torch.manual_seed(seed)
    layer = FastSlowLayer(8, 2, P, read_rule=rule, attention=attention, dtype=dtype, device=DEVICE)
    with torch.no_grad():
        layer.gate.fill_(0.5)
    return layer, torch.randn(2, T, 8, dtype=dtype, device=DEVICE)


@given(st.integers(1, 20), st.integers(1, 8), st.integers(0, 2**16))
@settings(max_examples=20, deadline=None)
def test_complete_rule_is_causal_and_reads_exactly_its_blocks(T, P, seed):
    layer, x = layer_and_input(T, P, "complete", seed)
    with torch.no_grad():
        slow = check_read_sets(dependence(layer.slow_path, x, seed), P, "complete", False)
        whole = check_read_sets(dependence(layer, x, seed), P, "complete", True)
    assert slow.causal and slow.exact, slow
    assert whole.causal and whole.exact, whole


@pytest.mark.parametrize("rule", ["own_block", "bidirectional"])
@given(T=st.integers(1, 20), P=st.integers(1, 8), seed=st.integers(0, 2**16))
@settings(max_examples=15, deadline=None)
def test_leaking_rules_are_flagged(rule, T, P, seed):
    layer, x = layer_and_input(T, P, rule, seed)
    with torch.no_grad():
        found = check_read_sets(dependence(layer, x, seed), P, rule, True)
    assert found.exact, found
    assert (not found.causal) == leaks(T, P, rule)


@pytest.mark.parametrize("name", ["sdpa-math", "reference-tiled"])
@pytest.mark.parametrize("T,P", [(3, 4), (13, 4), (17, 5)])
def test_causal_through_other_contract_kernels(name, T, P):
    attention = BUILTINS[name].build()
    for rule in ("complete", "own_block"):
        layer, x = layer_and_input(T, P, rule, 7, attention=attention)
        with torch.no_grad():
            found = check_read_sets(dependence(layer, x, 7), P, rule, True)
        assert found.exact, (name, rule, found)
        assert found.causal == (rule == "complete")


@pytest.mark.long
@given(st.integers(21, 64), st.integers(1, 16), st.integers(0, 2**16))
@settings(max_examples=30, deadline=None)
def test_complete_rule_is_causal_long(T, P, seed):
    layer, x = layer_and_input(T, P, "complete", seed, dtype=torch.float64)
    with torch.no_grad():
        found = check_read_sets(dependence(layer, x, seed), P, "complete", True)
    assert found.causal and found.exact, found
