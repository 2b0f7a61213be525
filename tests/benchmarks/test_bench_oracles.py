"""Oracle speed and accuracy at realistic shapes (run: pytest tests/benchmarks -m benchmark).

(a) tier 2 at [B, H, L, D] = [1, 1, 4096, 128] against float64 torch dense attention of the same
    shape timed in the same run; asserts time ratio <= 50 (the issue's target) and >= 30 correct
    digits, measured against tier 1 on a subset of query rows (all 4096 keys).
(b) tier 1 at Lq = Lk = 1024, D = Dv = 128, 30 digits: records the time and the certified digits,
    asserts the digits (the time target, <= 5 s, is recorded, not asserted: it depends on the
    machine).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from attnspec.oracles.attention.certified import certified_attention
from attnspec.oracles.attention.fast_exact.driver import fast_exact_attention
from attnspec.oracles.attention.problem import AttentionProblem
from attnspec.oracles.attention.fast_exact.tier_comparison import compare_to_certified

pytestmark = pytest.mark.benchmark

MAX_RATIO = 50  # the issue: tier 2 within 50x of float64 dense attention of the same shape
TARGET_DIGITS = 30  # the issue: >= 30 correct digits (accuracy measure of fast_exact.py)
CHECK_ROWS = (0, 1, 2047, 4095)  # query rows held against tier 1 (all 4096 keys)


def torch_dense_seconds(q, k, v, repeats=5) -> float:
    """Best-of-``repeats`` wall time of plain float64 attention in torch (the baseline)."""
    tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = torch.softmax(tq @ tk.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ tv
        best = min(best, time.perf_counter() - t0)
    assert out.shape == tq.shape[:-1] + (tv.shape[-1],)
    return best


def test_tier2_4096x128_against_float64_torch(benchmark):
    rng = np.random.default_rng(2024)
    shape = (1, 1, 4096, 128)
    q, k, v = (rng.standard_normal(shape) for _ in range(3))  # full 53-bit float64 inputs
    problem = AttentionProblem.build(q, k, v)
    # one-time costs (exp table, thread pool) outside the timing
    fast_exact_attention(AttentionProblem.build(q[:, :, :2], k[:, :, :8], v[:, :, :8]))

    baseline_before = torch_dense_seconds(q, k, v)
    fast = benchmark.pedantic(fast_exact_attention, args=(problem,), rounds=2, iterations=1)
    baseline_after = torch_dense_seconds(q, k, v)
    baseline = min(baseline_before, baseline_after)
    tier2 = benchmark.stats.stats.min

    rows = list(CHECK_ROWS)
    sub = AttentionProblem.build(q[:, :, rows], k, v)
    cert = certified_attention(sub, digits=40)
    sub_fast = _rows(fast, rows)
    cmp = compare_to_certified(sub_fast, cert, sub)

    ratio = tier2 / baseline
    benchmark.extra_info.update(
        {
            "shape": list(shape),
            "tier2_seconds": tier2,
            "torch_float64_seconds": baseline,
            "ratio": ratio,
            "digits": cmp.digits,
            "lse_digits": cmp.lse_digits,
            "elementwise_relative_digits": cmp.elementwise_digits,
            "bound_digits": cmp.bound_digits,
            "checked_rows": rows,
            "torch_threads": torch.get_num_threads(),
        }
    )
    assert cmp.violations == 0, cmp
    assert cmp.digits >= TARGET_DIGITS and cmp.lse_digits >= TARGET_DIGITS, cmp
    assert ratio <= MAX_RATIO, (tier2, baseline)


def _rows(fast, rows):
    """The FastExactAttention restricted to some query rows (all arrays sliced alike)."""
    import dataclasses

    return dataclasses.replace(
        fast,
        **{
            f.name: getattr(fast, f.name)[:, :, rows]
            for f in dataclasses.fields(fast)
        },
    )


def test_tier1_1024x128(benchmark):
    rng = np.random.default_rng(7)
    shape = (1, 1, 1024, 128)
    q, k, v = (rng.standard_normal(shape) for _ in range(3))
    problem = AttentionProblem.build(q, k, v)
    cert = benchmark.pedantic(certified_attention, args=(problem,), kwargs={"digits": 30},
                              rounds=1, iterations=1)
    benchmark.extra_info.update(
        {
            "shape": list(shape),
            "tier1_seconds": benchmark.stats.stats.min,
            "certified_digits": cert.digits,
            "precision_bits": cert.precision_bits,
            "target_seconds": 5.0,
        }
    )
    assert cert.digits >= 30
