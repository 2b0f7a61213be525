"""Exact sampling in the streaming kernel: deficit law, key vectors, Householder frame, reduction."""

import math

import numpy as np
import pytest
import torch
from mpmath import mp
from scipy import stats

from attnspec.kernels.scaling_limits import (householder_to, make_generator, random_context_stats,
                                              sample_deficits, sample_keys, stream_reduce)


@pytest.mark.parametrize("d", [2, 3, 4, 8, 16, 64])
def test_deficit_law_ks(d):
    # u/2 ~ Beta(a, a); KS at false-alarm 1e-6 on 2e5 draws
    g = make_generator(seed=10 + d)
    u = sample_deficits((200_000,), d, generator=g).numpy()
    a = (d - 1) / 2
    assert stats.kstest(u / 2, stats.beta(a, a).cdf).pvalue > 1e-6
    assert u.min() >= 0 and u.max() <= 2


@pytest.mark.parametrize("d", [4, 8, 16])
def test_small_deficits_have_the_power_law(d):
    # the nearest keys live at tiny u: the count below x must follow I_(x/2)(a,a) with relative
    # accuracy there (a sampler computing 1 - <q,k> would round these to 0)
    g = make_generator(seed=3)
    a = (d - 1) / 2
    N = 2_000_000
    u = sample_deficits((N,), d, generator=g).numpy()
    x = float(stats.beta(a, a).ppf(2e-4)) * 2  # expected 400 draws below x
    k = int(np.sum(u < x))
    assert abs(k - 400) < 4.89 * math.sqrt(400)
    assert np.all(u[u < x] > 0)


def test_keys_are_unit_and_consistent_with_deficits():
    g = make_generator(seed=4)
    q = torch.tensor([0.6, 0.0, 0.8, 0.0, 0.0], dtype=torch.float64)
    k = sample_keys(10_000, 5, query=q, contexts=2, generator=g)
    assert k.shape == (2, 10_000, 5)
    assert torch.allclose(torch.linalg.vector_norm(k, dim=-1), torch.ones(2, 10_000, dtype=torch.float64), atol=1e-14)
    t = (k @ q).numpy().reshape(-1)
    assert stats.kstest((1 + t) / 2, stats.beta(2, 2).cdf).pvalue > 1e-6
    # tangent part isotropic: mean of the component orthogonal to q is ~0
    perp = k - (k @ q)[..., None] * q
    assert torch.abs(perp.mean(dim=(0, 1))).max() < 4.89 * math.sqrt(1 / 4 / 20_000)


def test_householder():
    q = torch.tensor([0.3, -0.4, 0.5, math.sqrt(1 - 0.5)], dtype=torch.float64)
    H = householder_to(q)
    e1 = torch.zeros(4, dtype=torch.float64)
    e1[0] = 1
    assert torch.allclose(H @ e1, q, atol=1e-15)
    assert torch.allclose(H @ H.T, torch.eye(4, dtype=torch.float64), atol=1e-15)


def _direct(u, beta, e=None):
    """mpmath reference for one context (deficits u, tangent directions e)."""
    with mp.workdps(40):
        uu = [mp.mpf(float(x)) for x in u]
        m = min(uu)
        om = [mp.exp(-beta * (x - m)) for x in uu]
        i0 = uu.index(m)
        R = mp.fsum(om[j] for j in range(len(om)) if j != i0)
        T = 1 + R
        out = dict(w_max=1 / T, r=R, ipr=mp.fsum(o * o for o in om) / T ** 2,
                   log_normaliser=-beta * m + mp.log(T), mean_deficit=mp.fsum(o * x for o, x in zip(om, uu)) / T)
        if e is not None:
            rad = [mp.sqrt(x * (2 - x)) for x in uu]
            out["tan"] = [mp.fsum(o * r_ * mp.mpf(float(e[j, c])) for j, (o, r_) in enumerate(zip(om, rad))) / T
                          for c in range(e.shape[1])]
        return out


@pytest.mark.parametrize("beta", [3.0, 300.0, 3000.0])
def test_stream_reduce_equals_direct_computation(beta):
    # chunked reduction (chunks of 37 keys) against an exact one-shot evaluation, including a
    # supercritical beta where w_max rounds to 1.0 and R must keep its relative accuracy
    g = make_generator(seed=11)
    C, n, d = 3, 500, 6
    u = sample_deficits((C, n), d, generator=g)
    e = torch.randn((C, n, d - 1), generator=g, dtype=torch.float64)
    e = e / torch.linalg.vector_norm(e, dim=-1, keepdim=True)
    chunks = [(u[:, i:i + 37], e[:, i:i + 37]) for i in range(0, n, 37)]
    res = stream_reduce(iter(chunks), beta, value_fn=lambda x: torch.stack([x, x * x], dim=-1))
    for c in range(C):
        ref = _direct(u[c].numpy(), beta, e[c].numpy())
        for key in ("w_max", "ipr", "mean_deficit"):
            assert abs(res[key][c].item() - float(ref[key])) <= 4e-15 * abs(float(ref[key])) + 1e-300
        assert abs(res["r"][c].item() / float(ref["r"]) - 1) < 1e-13
        assert abs(res["log_normaliser"][c].item() - float(ref["log_normaliser"])) < 1e-13 * max(1, abs(float(ref["log_normaliser"])))
        for j in range(d - 1):
            assert abs(res["output"][c, j + 1].item() - float(ref["tan"][j])) < 1e-14
        assert abs(res["values"][c, 0].item() - float(ref["mean_deficit"])) < 1e-15
    if beta == 3000.0:
        tiny = res["r"] < 1e-17
        assert tiny.any()
        assert (res["w_max"][tiny] == 1.0).all()  # rounds to 1 in float64 ...
        assert (res["r"][tiny] > 0).all()         # ... while R still carries the information


def test_chunking_does_not_change_results():
    # same draws, different chunk sizes: identical statistics up to rounding
    kw = dict(d=8, contexts=5, seed=123)
    a = random_context_stats(10_000, 50.0, chunk=10_000, **kw)
    b = random_context_stats(10_000, 50.0, chunk=10_000, **kw)
    assert torch.equal(a.w_max, b.w_max)
    g1, g2 = make_generator(seed=5), make_generator(seed=5)
    u = sample_deficits((4, 3000), 8, generator=g1)
    r1 = stream_reduce(iter([(u, None)]), 40.0)
    r2 = stream_reduce(iter([(u[:, i:i + 101], None) for i in range(0, 3000, 101)]), 40.0)
    for k in ("w_max", "r", "ipr", "log_normaliser", "mean_deficit"):
        assert torch.allclose(r1[k], r2[k], rtol=1e-13, atol=0)


def test_outputs_and_query_rotation():
    q = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    s0 = random_context_stats(2000, 30.0, d=3, contexts=4, outputs=True, seed=9)
    s1 = random_context_stats(2000, 30.0, d=3, contexts=4, outputs=True, seed=9, query=q)
    assert torch.allclose(s1.output[:, 1], s0.output[:, 0], atol=1e-15)
    assert torch.allclose(s0.output[:, 0], 1 - s0.mean_deficit, atol=0)
    assert (torch.linalg.vector_norm(s0.output, dim=1) <= 1 + 1e-15).all()


def test_gaussian_scores_and_arguments():
    s = random_context_stats(1000, 2.0, key_law="gaussian", sigma=1.5, contexts=3, seed=1)
    assert s.w_max.shape == (3,) and (s.ipr >= s.w_max ** 2).all()
    with pytest.raises(ValueError):
        random_context_stats(10, 1.0, key_law="sphere")
    with pytest.raises(ValueError):
        random_context_stats(10, 1.0, key_law="gaussian", outputs=True)
