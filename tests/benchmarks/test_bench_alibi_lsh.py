"""Positional-LSH ALiBi attention (kernels/alibi_lsh) against dense ALiBi attention on CPU.

Run: .venv/bin/pytest tests/benchmarks/test_bench_alibi_lsh.py -m benchmark -s
Setup: B = 1, H = 2 heads with slopes 1/16 and 1/128 (heads 4 and 7 of the canonical 8-head
set), D = Dv = 64, causal, q, k, v i.i.d. N(0, 1) float32, scale 1/sqrt(D), one torch thread
(the 2 cores are shared by several sessions; with 2 threads OpenMP's waiting made times swing
by 10x). Accuracy target: rms error of out <= 0.05 (v has unit variance), measured against
float64 dense ALiBi attention at n = 4096 and 8192. Numbers go to benchmark.extra_info and are
printed; docs/positional-lsh-kernel.md reports the runs. Asserted: the fitted time exponent in
n of the kernel is <= 1.15 (near linear); the accuracy target is met where it is measured; the
default scheme is the one that needs less work to reach the target.
"""

import math
import time

import numpy as np
import pytest
import torch

from attnspec.kernels.alibi_lsh import DEFAULT_SCHEME, positional_lsh_attention, sample_block_ids
from attnspec.kernels.alibi_lsh.cost import block_entries, ones_p_ones, padded_entries
from attnspec.kernels.attention.alibi_slopes import alibi_slopes

pytestmark = pytest.mark.benchmark

D = 64
SLOPES = alibi_slopes(8)[[3, 6]]  # 1/16, 1/128
TARGET_RMS = 0.05
TARGET_SAMPLES = 16  # the draws the scheme comparison found to meet TARGET_RMS (asserted below)
# Dense float bias: n^2 x 4 bytes per head (256 MiB at 8k, 16 GiB at 64k), plus SDPA's own n^2
# scores and weights; at 16k one run took 110 s under the shared load (memory traffic), so SDPA
# is measured up to 8k. FlexAttention (compiled, causal block mask) up to 32k: at 32k it took
# 106 s, and 64k would take about 4 x that, past the benchmark's 6-minute budget.
SDPA_MAX_N = 8192
FLEX_MAX_N = 32768
NS = (4096, 8192, 16384, 32768, 65536)


def _inputs(n, seed=0, heads=2):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn((1, heads, n, D), generator=g) for _ in range(3))


def _alibi_bias(n, slope, dtype):
    i = torch.arange(n)
    bias = -float(slope) * (i[:, None] - i[None, :]).abs().to(dtype)
    return bias.masked_fill(i[None, :] > i[:, None], float("-inf"))  # causal


def _sdpa_dense(q, k, v, dtype=torch.float32):
    """Dense causal ALiBi through SDPA with a float bias, one head at a time (memory)."""
    outs = []
    for h, m in enumerate(SLOPES.tolist()):
        bias = _alibi_bias(q.shape[2], m, dtype)
        outs.append(torch.nn.functional.scaled_dot_product_attention(
            q[:, h:h + 1].to(dtype), k[:, h:h + 1].to(dtype), v[:, h:h + 1].to(dtype), attn_mask=bias))
    return torch.cat(outs, dim=1)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _rms(a, b):
    return float((a.double() - b.double()).pow(2).mean().sqrt())


def test_scheme_comparison(benchmark):
    """Which scheme reaches the target at the lower cost, at n = 4096: rms error at s = 16 over
    twelve seeds, the two schemes interleaved call by call (the shared machine's load drifts);
    the constant c of rms ~ c / sqrt(s) (geometric mean of rms sqrt(s) and its standard error),
    the draws needed s* = (c / target)^2, the time per draw (median), and two costs to the
    target: s* x time per draw (seconds), and s* x score entries computed per draw (padded,
    machine-independent) over 1^T P 1."""
    torch.set_num_threads(1)
    n, s, seeds = 4096, 16, 12
    q, k, v = _inputs(n)
    exact = _sdpa_dense(q, k, v, torch.float64)
    schemes = ("binning", "gap_cut")
    products = {name: [] for name in schemes}
    per_draw = {name: [] for name in schemes}
    for seed in range(seeds):
        for scheme in schemes:
            out, dt = _timed(lambda: positional_lsh_attention(q, k, v, causal=True, alibi_slopes=SLOPES,
                                                              samples=s, seed=seed, scheme=scheme))
            per_draw[scheme].append(dt / s)
            products[scheme].append(_rms(out, exact) * math.sqrt(s))
    results = {}
    opo = sum(ones_p_ones(n, m) for m in SLOPES.tolist())
    for scheme in schemes:
        logs = np.log(products[scheme])
        c = float(np.exp(logs.mean()))
        s_needed = (c / TARGET_RMS) ** 2
        ids = sample_block_ids(n, SLOPES, 64, seed=0, scheme=scheme)
        padded = sum(float(padded_entries(ids[h]).double().mean()) for h in range(2)) / opo
        entries = sum(float(block_entries(ids[h]).double().mean()) for h in range(2)) / opo
        results[scheme] = dict(c=c, c_relative_se=float(logs.std(ddof=1) / math.sqrt(seeds)),
                               rms_at_16_mean=float(np.mean(products[scheme]) / math.sqrt(s)), s_needed=s_needed,
                               s_per_draw=float(np.median(per_draw[scheme])),
                               cost_s=s_needed * float(np.median(per_draw[scheme])),
                               block_entries_over_1P1=entries, padded_over_1P1=padded,
                               cost_entries_over_1P1=s_needed * padded)
    faster = min(results, key=lambda name: results[name]["cost_s"])
    # deterministic (seeded draws and inputs): the default is the scheme that needs less work to
    # the target, and TARGET_SAMPLES draws of it meet the target on average
    less_work = min(results, key=lambda name: results[name]["cost_entries_over_1P1"])
    benchmark.pedantic(positional_lsh_attention, args=(q, k, v),
                       kwargs=dict(causal=True, alibi_slopes=SLOPES, samples=TARGET_SAMPLES, scheme=faster),
                       rounds=1, iterations=1)
    benchmark.extra_info.update(results=results, faster=faster, less_work=less_work, default=DEFAULT_SCHEME,
                                n=n, target_rms=TARGET_RMS)
    print("\nscheme comparison", results, "faster:", faster, "less work:", less_work, "default:", DEFAULT_SCHEME)
    assert DEFAULT_SCHEME == less_work
    assert results[DEFAULT_SCHEME]["s_needed"] <= TARGET_SAMPLES


def _flex_runner():
    try:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        run = torch.compile(flex_attention, dynamic=True)
    except Exception as e:  # pragma: no cover - reported, not hidden
        return None, repr(e)
    slopes = SLOPES.clone()

    def score_mod(score, b, h, q_idx, kv_idx):
        return score - slopes[h] * (q_idx - kv_idx).abs()

    def causal(b, h, q_idx, kv_idx):
        return q_idx >= kv_idx

    def flex(q, k, v):
        mask = create_block_mask(causal, None, None, q.shape[2], k.shape[2], device=q.device)
        return run(q, k, v, score_mod=score_mod, block_mask=mask)

    return flex, None


def _fit_exponent(ns, ts):
    return float(np.polyfit(np.log(ns), np.log(ts), 1)[0])


def test_lsh_against_dense_alibi(benchmark):
    """Times at n = 4k..64k (after a warm-up): the kernel (default scheme, TARGET_SAMPLES draws,
    the better of two calls), SDPA with a float bias (n <= SDPA_MAX_N), FlexAttention compiled with a
    score_mod and a causal block mask. Fitted exponents, crossover n, cost per head."""
    torch.set_num_threads(1)
    q, k, v = _inputs(1024)
    positional_lsh_attention(q, k, v, causal=True, alibi_slopes=SLOPES, samples=2)  # warm-up
    flex, flex_error = _flex_runner()
    if flex is not None:
        _, flex_compile_s = _timed(lambda: flex(q, k, v))
    lsh, sdpa, flex_t, rms = {}, {}, {}, {}
    for n in NS:
        q, k, v = _inputs(n)
        # the better of two calls: one call under the shared machine's load swung by up to 2x
        runs = [_timed(lambda: positional_lsh_attention(q, k, v, causal=True, alibi_slopes=SLOPES,
                                                        samples=TARGET_SAMPLES)) for _ in range(2)]
        out, lsh[n] = runs[0][0], min(t for _, t in runs)
        if n <= SDPA_MAX_N:
            _, sdpa[n] = _timed(lambda: _sdpa_dense(q, k, v))
        if n <= 8192:
            rms[n] = _rms(out, _sdpa_dense(q, k, v, torch.float64))
        if flex is not None and n <= FLEX_MAX_N:
            _, flex_t[n] = _timed(lambda: flex(q, k, v))
        print(f"n {n}: lsh {lsh[n]:.2f} s, sdpa {sdpa.get(n, float('nan')):.2f} s, "
              f"flex {flex_t.get(n, float('nan')):.2f} s, rms {rms.get(n, float('nan')):.4f}", flush=True)
        del q, k, v, out
    exponent = _fit_exponent(list(lsh), list(lsh.values()))
    sdpa_exponent = _fit_exponent(list(sdpa), list(sdpa.values()))

    def crossover(dense):
        # n where the fitted power laws a n^p of the kernel and of a dense baseline meet
        pl = np.polyfit(np.log(list(lsh)), np.log(list(lsh.values())), 1)
        pd = np.polyfit(np.log(list(dense)), np.log(list(dense.values())), 1)
        return float(np.exp((pl[1] - pd[1]) / (pd[0] - pl[0]))) if pd[0] != pl[0] else math.nan

    # cost per head against 1^T P 1 at n = 16384: one head at a time
    n = 16384
    q, k, v = _inputs(n, heads=1)
    per_head = {}
    for m in SLOPES.tolist():
        slope = torch.tensor([m])
        _, t = _timed(lambda: positional_lsh_attention(q, k, v, causal=True, alibi_slopes=slope, samples=TARGET_SAMPLES))
        ids = sample_block_ids(n, [m], TARGET_SAMPLES, seed=0, scheme=DEFAULT_SCHEME)[0]
        opo = ones_p_ones(n, m)
        per_head[m] = dict(seconds=t, ns_per_1P1_entry=1e9 * t / (TARGET_SAMPLES * opo),
                           padded_over_1P1=float(padded_entries(ids).double().mean()) / opo)
    benchmark.pedantic(positional_lsh_attention, args=(q, k, v),
                       kwargs=dict(causal=True, alibi_slopes=SLOPES[:1], samples=TARGET_SAMPLES),
                       rounds=1, iterations=1)
    info = dict(lsh_s=lsh, sdpa_s=sdpa, flex_s=flex_t, rms=rms, lsh_exponent=exponent,
                sdpa_exponent=sdpa_exponent, crossover_vs_sdpa=crossover(sdpa),
                flex_exponent=_fit_exponent(list(flex_t), list(flex_t.values())) if flex_t else None,
                crossover_vs_flex=crossover(flex_t) if flex_t else None,
                flex_compile_s=flex_compile_s if flex is not None else None, flex_error=flex_error,
                per_head_at_16384=per_head, scheme=DEFAULT_SCHEME, samples=TARGET_SAMPLES)
    benchmark.extra_info.update(info)
    print("\nlsh vs dense", info)
    assert all(r <= TARGET_RMS for r in rms.values()), rms
    assert exponent <= 1.15, exponent
