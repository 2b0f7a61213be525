"""kernels/fast_slow: the coupled layer against a from-scratch float64 transcription, on every
present device; the explicit zero, the read rules, the FLOP counter, the discrete analogue."""

import math

import pytest
import torch
from attnspec.kernels.attention.dense import dense_attention as BUILTINS_DENSE
from attnspec.kernels.fast_slow.discrete_analogue import run_analogue
from attnspec.kernels.fast_slow.flops import layer_flops, path_total
from attnspec.kernels.fast_slow.layer import FastSlowLayer
from attnspec.kernels.fast_slow.pooling import block_mean, read_index
from attnspec.kernels.registry import present_devices

DEVICES = list(present_devices())


def transcription(layer, x):
    """The layer's equations written out with plain softmax, in float64 (no contract kernel,
    no pooling module): fast + gate * slow, slow row t = row b*(t) of the block attention."""
    B, T, d = x.shape
    H, P = layer.heads, layer.block
    x = x.double()

    def mha(W, z, causal):
        L = z.shape[1]
        q, k, v = (z @ W[n].weight.double().T for n in "qkv")
        q, k, v = (t.reshape(B, L, H, d // H).transpose(1, 2) for t in (q, k, v))
        s = q @ k.transpose(-1, -2) / math.sqrt(d // H)
        if causal:
            s = s.masked_fill(torch.ones(L, L, dtype=torch.bool, device=z.device).triu(1), -math.inf)
        o = torch.softmax(s, -1) @ v
        return o.transpose(1, 2).reshape(B, L, d) @ W["o"].weight.double().T

    fast = mha(layer.fast, x, True)
    N = T // P
    slow = torch.zeros_like(x)
    if N:
        means = torch.stack([x[:, b * P:(b + 1) * P].sum(1) / P for b in range(N)], 1)
        rows = mha(layer.slow, means, True)
        for t in range(T):
            if (t + 1) // P >= 1:
                slow[:, t] = rows[:, (t + 1) // P - 1]
    return fast + layer.gate.double() * slow


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("T,P", [(1, 1), (5, 8), (7, 7), (13, 4), (16, 4), (23, 5)])
def test_layer_matches_its_transcription(device, T, P):
    torch.manual_seed(T * 31 + P)
    layer = FastSlowLayer(12, 3, P, dtype=torch.float64, device=device)
    with torch.no_grad():
        layer.gate.fill_(0.75)
    x = torch.randn(2, T, 12, dtype=torch.float64, device=device)
    out = layer(x)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device.type == device
    # The same float64 sums in another order: each output is a few sums of <= 2T + 4d O(1)
    # terms with weights <= 1, so they differ by <= gamma_(2T + 4d) * (sum of |terms|) ~
    # 100 u * 10; 1e-11 is 40x that bound and still 1e8 times below any real disagreement.
    assert (out - transcription(layer, x)).abs().max().item() < 1e-11


@pytest.mark.parametrize("T,P", [(3, 5), (9, 4), (10, 11)])
def test_explicit_zero_and_no_softmax_over_nothing(T, P):
    calls = []

    def counting(q, k, v, *, causal=False):
        calls.append(q.shape[2])
        assert q.shape[2] >= 1  # never a softmax over nothing
        return torch.softmax(q @ k.transpose(-1, -2), -1) @ v

    counting.attnspec = {"dtypes": ["float32"], "causal": "top_left"}
    layer = FastSlowLayer(8, 2, P, attention=counting)
    slow = layer.slow_path(torch.randn(1, T, 8))
    assert torch.equal(slow[:, : min(T, P - 1)], torch.zeros_like(slow[:, : min(T, P - 1)]))
    assert calls == ([] if T < P else [T // P])  # the slow kernel runs only with a complete block


def test_read_index_and_pooling():
    assert read_index(9, 4, "complete", "cpu").tolist() == [-1, -1, -1, 0, 0, 0, 0, 1, 1]
    assert read_index(9, 4, "own_block", "cpu").tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2]
    x = torch.arange(18.0).reshape(1, 9, 2)
    assert block_mean(x, 4).tolist() == [[[3.0, 4.0], [11.0, 12.0]]]
    assert block_mean(x, 4, partial=True)[0, 2].tolist() == [16.0, 17.0]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        FastSlowLayer(10, 3, 2)
    with pytest.raises(ValueError):
        FastSlowLayer(8, 2, 2, read_rule="sideways")
    with pytest.raises(ValueError):
        FastSlowLayer(8, 2, 0)

    def acausal(q, k, v):
        return v

    acausal.attnspec = {"dtypes": ["float32"]}
    with pytest.raises(ValueError):
        FastSlowLayer(8, 2, 2, attention=acausal)


def test_flop_counter_by_hand():
    # T = 8, P = 4, d = 2: fast 8*8*4 + 4*64*2; slow pooling 2*4*2, projections 8*2*4,
    # attention 4*4*2, gate 2*8*2
    f = layer_flops(8, 4, 2)
    assert f["fast"] == {"projections": 256, "attention": 512}
    assert f["slow"] == {"pooling": 16, "projections": 64, "attention": 32, "gate": 32}
    assert path_total(layer_flops(8, 4, 2, batch=3), "slow") == 3 * 144


def test_discrete_analogue_conserves_mass_and_rests_at_equilibrium():
    a, b = 0.8, 1.3

    def Q(y):
        return [[-a, a], [b, -b]]

    p = [b / (a + b), a / (a + b)]
    run = run_analogue(Q, lambda x, y: 0.0, 4, 0.5, p, 0.0, 20)
    assert all(abs(x[0] - p[0]) < 1e-15 for x in run.x)  # pi K = pi
    run = run_analogue(Q, lambda x, y: x[0], 4, 0.5, [1.0, 0.0], 0.0, 20)
    assert all(abs(sum(x) - 1) < 1e-15 for x in run.x)
    # the slow state reads only complete blocks: v_t = xbar_1 of block floor((t+1)/4) - 1
    assert run.v[:3] == (0.0, 0.0, 0.0)
    assert run.v[3] == pytest.approx(sum(x[0] for x in run.x[:4]) / 4, rel=1e-15)


def test_a_blhd_kernel_is_wrapped():
    def blhd(q, k, v, *, causal=False):  # [B, L, H, D]
        assert q.shape[2] == 2 and q.shape[1] in (10, 3)  # [B, L, H, D]: L = T or N, H = 2
        return BUILTINS_DENSE(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                              causal=causal).transpose(1, 2)

    blhd.attnspec = {"dtypes": ["float32"], "causal": "bottom_right", "layout": "blhd"}
    torch.manual_seed(5)
    a = FastSlowLayer(8, 2, 3, attention=blhd)
    b = FastSlowLayer(8, 2, 3)
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        a.gate.fill_(0.3)
        b.gate.fill_(0.3)
        x = torch.randn(1, 10, 8)
        assert torch.equal(a(x), b(x))  # the same kernel behind a transposition: same bits
