"""oracles/fast_slow/flops.py, read_rule.py and pooling.py."""

from fractions import Fraction

import pytest
from attnspec.oracles.fast_slow import flops, pooling, read_rule
from hypothesis import given
from hypothesis import strategies as st
from mpmath import mp


@given(st.integers(1, 64), st.integers(1, 300))
def test_causal_entry_ratio_closed_form(P, N):
    T = N * P
    assert flops.causal_entry_ratio(T, P) == flops.causal_entry_ratio_closed_form(T, P)
    assert flops.attention_matrix_ratio(T, P) == P * P
    assert flops.projection_ratio(T, P) == P


def test_whole_layer_ratio_worked_example():
    # T = 4096, P = 16, d = 64, N = 256: (4 T^2 d + 8 T d^2) / (4 N^2 d + 8 N d^2 + 3 T d)
    num = 4 * 4096**2 * 64 + 8 * 4096 * 64**2
    den = 4 * 256**2 * 64 + 8 * 256 * 64**2 + 3 * 4096 * 64
    assert flops.whole_layer_ratio(4096, 16, 64) == Fraction(num, den)
    fast, slow = flops.fast_path_flops(4096, 64), flops.slow_path_flops(4096, 16, 64)
    assert Fraction(sum(fast.values()), sum(slow.values())) == Fraction(num, den)


@given(st.integers(1, 40), st.integers(1, 12))
def test_read_sets(T, P):
    assert not read_rule.leaks(T, P, "complete")
    assert read_rule.leaks(T, P, "own_block") == (P >= 2 and T >= 2)
    assert read_rule.leaks(T, P, "bidirectional") == (T // P >= 2)
    for t in range(T):
        s = read_rule.slow_read_set(t, T, P)
        assert s.stop <= t + 1 and s.stop % P == 0
        assert (len(s) == 0) == (t <= P - 2)


def test_unknown_rule_is_an_error():
    with pytest.raises(ValueError):
        read_rule.slow_read_set(0, 4, 2, "sideways")


def test_pooling_oracle_exact_mean_and_bound():
    x = [[1.0, 0.1], [2.0, 0.2], [4.0, 0.3], [7.0, 0.4], [5.0, 9.0]]  # T = 5, P = 2: 2 blocks
    m = pooling.block_means(x, 2)
    assert len(m) == 2 and m[0][0] == mp.mpf(1.5) and m[1][0] == mp.mpf(5.5)
    b = pooling.pooling_bound(x, 2, 2.0**-24)
    u = mp.mpf(2) ** -24
    assert abs(b[0][0] - 3 * u / (1 - 3 * u) * mp.mpf(3) / 2) < mp.mpf(10) ** -25
