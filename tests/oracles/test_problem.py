"""AttentionProblem: exact conversion and clear rejection of what the contract does not define."""

import numpy as np
import pytest

from attnspec.oracles.attention.problem import AttentionProblem


def qkv(B=1, Hq=2, Hk=1, Lq=3, Lk=4, D=5, Dv=6):
    return np.zeros((B, Hq, Lq, D)), np.zeros((B, Hk, Lk, D)), np.zeros((B, Hk, Lk, Dv))


def test_float16_and_float32_values_convert_exactly():
    x16 = np.array([65504.0, 6.1e-5, -2.0**-24], dtype=np.float16).reshape(1, 1, 1, 3)
    x32 = np.array([1 + 2.0**-23, 3.4e38], dtype=np.float32).reshape(1, 1, 1, 2)
    p16 = AttentionProblem.build(x16, x16, x16)
    p32 = AttentionProblem.build(x32, x32, x32)
    assert np.array_equal(p16.q.astype(np.float16), x16) and p16.q.dtype == np.float64
    assert np.array_equal(p32.q.astype(np.float32), x32)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(q=np.zeros((1, 3, 3, 5)), k=np.zeros((1, 2, 4, 5)), v=np.zeros((1, 2, 4, 6))),
         "not a multiple"),
        (dict(k=np.zeros((1, 1, 4, 7))), "head dims differ"),
        (dict(v=np.zeros((1, 1, 5, 6))), "disagree"),
        (dict(q=np.zeros((2, 2, 3, 5))), "batch sizes differ"),
        (dict(q=np.zeros((2, 3, 5))), "4 dimensions"),
        (dict(q=np.full((1, 2, 3, 5), np.nan)), "finite"),
        (dict(q=np.zeros((1, 2, 3, 5), dtype=np.longdouble)), "rounded"),
        (dict(q=np.zeros((1, 2, 3, 5), dtype=complex)), "real"),
    ],
)
def test_bad_inputs_are_rejected_with_a_reason(change, message):
    q, k, v = qkv()
    args = dict(q=q, k=k, v=v) | change
    with pytest.raises((ValueError, TypeError), match=message):
        AttentionProblem.build(args["q"], args["k"], args["v"])


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(causal=True), "ambiguous"),
        (dict(causal="diagonal"), "causal must be"),
        (dict(window=(-1, 2)), "non-negative"),
        (dict(window=(1,)), "left, right"),
        (dict(mask=np.ones((1, 2, 3, 4))), "boolean"),
        (dict(mask=np.ones((3, 3), dtype=bool)), "broadcast"),
        (dict(alibi_slopes=np.ones(3)), r"shape \[2\]"),
        (dict(softcap=0.0), "positive"),
        (dict(scale=float("inf")), "finite"),
    ],
)
def test_bad_options_are_rejected_with_a_reason(options, message):
    with pytest.raises((ValueError, TypeError), match=message):
        AttentionProblem.build(*qkv(), **options)


def test_shape_names_and_offset():
    p = AttentionProblem.build(*qkv(B=2, Hq=6, Hk=3, Lq=3, Lk=7, D=5, Dv=4))
    assert (p.batch, p.q_heads, p.kv_heads, p.q_len, p.kv_len) == (2, 6, 3, 3, 7)
    assert (p.head_dim, p.value_dim, p.group_size, p.offset) == (5, 4, 2, 4)
    assert AttentionProblem.build(*qkv(), causal=False).causal is None
