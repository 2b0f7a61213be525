"""Gradient oracle speed and accuracy at a realistic shape (run:
pytest tests/benchmarks/test_bench_gradient_oracle.py -m benchmark).

Tier-2 gradients (oracles/attention/fast_exact/gradients.py) at [B, H, L, D] = [1, 1, 4096, 128]
(float64 inputs, random normal q, k, v, dO, no options) against the float64 torch backward of
the same shape (forward plus torch.autograd.grad of plain softmax attention) timed in the same
run; asserts the time ratio <= 50 (the issue's target). Accuracy, on the same result:
  * dq of CHECK_ROWS held against tier 1 (certified_gradients, 40 digits) on the sub-problem of
    those query rows with all 4096 keys (dq row i depends on row i of q and dO only): every error
    within tier 2's bound plus tier 1's radius, and >= TARGET_DIGITS correct digits relative to
    the natural scale;
  * dk and dv in full through the identities sum_j dV_j = sum_i dO_i and sum_j dK_j =
    scale sum_i dlse_i q_i (= 0 here; both follow from sum_j P_ij = 1): the sum of the returned
    values, evaluated exactly (math.fsum, correctly rounded), within the sum of the bounds;
  * the bound itself: >= TARGET_DIGITS digits of every element's natural scale.
"""

from __future__ import annotations

import math
import time

import mpmath
import numpy as np
import pytest
import torch

from attnspec.oracles.attention.certified_gradients import certified_gradients
from attnspec.oracles.attention.fast_exact.gradients import fast_exact_gradients
from attnspec.oracles.attention.gradient_problem import GradientProblem
from attnspec.oracles.attention.problem import AttentionProblem

pytestmark = pytest.mark.benchmark

MAX_RATIO = 50  # the issue: tier 2 within 50x of the float64 torch backward of the same shape
# The issue asks for errors <= ~1e-25 of the natural scale (24 digits is the level below which
# no kernel verdict moves); the oracle's bound certifies ~30 here (its module docstring).
TARGET_DIGITS = 25
CHECK_ROWS = (0, 1, 2047, 4095)  # query rows whose dq is held against tier 1 (all 4096 keys)
U = 2.0**-53


def torch_backward_seconds(q, k, v, d_out, repeats=5) -> float:
    """Best-of-``repeats`` wall time of float64 attention forward + autograd backward in torch."""
    best = math.inf
    for _ in range(repeats):
        tq, tk, tv = (torch.from_numpy(x).requires_grad_() for x in (q, k, v))
        t0 = time.perf_counter()
        out = torch.softmax(tq @ tk.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ tv
        grads = torch.autograd.grad(out, (tq, tk, tv), torch.from_numpy(d_out))
        best = min(best, time.perf_counter() - t0)
    assert [g.shape for g in grads] == [tq.shape, tk.shape, tv.shape]
    return best


def _digits(x: float) -> float:
    return math.inf if x == 0 else -math.log10(x)


def test_tier2_gradients_4096x128_against_float64_torch(benchmark):
    rng = np.random.default_rng(2024)
    shape = (1, 1, 4096, 128)
    q, k, v, d_out = (rng.standard_normal(shape) for _ in range(4))  # full 53-bit inputs
    problem = GradientProblem.build(AttentionProblem.build(q, k, v), d_out)
    # one-time costs (exp table, thread pool) outside the timing
    fast_exact_gradients(GradientProblem.build(
        AttentionProblem.build(q[:, :, :2], k[:, :, :8], v[:, :, :8]), d_out[:, :, :2]))

    baseline_before = torch_backward_seconds(q, k, v, d_out)
    fast = benchmark.pedantic(fast_exact_gradients, args=(problem,), rounds=2, iterations=1)
    baseline_after = torch_backward_seconds(q, k, v, d_out)
    baseline = min(baseline_before, baseline_after)
    tier2 = benchmark.stats.stats.min
    ratio = tier2 / baseline

    # dq rows against tier 1
    rows = list(CHECK_ROWS)
    sub = GradientProblem.build(AttentionProblem.build(q[:, :, rows], k, v), d_out[:, :, rows])
    cert = certified_gradients(sub, digits=40)
    violations = 0
    worst = 0.0
    with mpmath.workprec(2200):  # holds any sum of two doubles exactly
        for r, i in enumerate(rows):
            for c in range(shape[3]):
                err = abs(mpmath.mpf(float(fast.dq_hi[0, 0, i, c]))
                          + mpmath.mpf(float(fast.dq_lo[0, 0, i, c])) - cert.dq[0, 0, r, c])
                violations += err > (mpmath.mpf(float(fast.dq_bound[0, 0, i, c]))
                                     + mpmath.mpf(float(cert.dq_radius[0, 0, r, c])))
                worst = max(worst, float(err) / cert.scales["dq"][0, 0, r, c])
    np.testing.assert_allclose(fast.scales["dq"][0, 0, rows], cert.scales["dq"][0, 0],
                               rtol=1e-12)

    # dk and dv through their identities, summed exactly
    identity_ok = True
    for name, target in (("dk", np.zeros(shape[3])), ("dv", d_out[0, 0].sum(axis=0))):
        hi, lo, bound = (getattr(fast, name + s)[0, 0] for s in ("_hi", "_lo", "_bound"))
        exact_target = [math.fsum(d_out[0, 0, :, c]) for c in range(shape[3])] if name == "dv" \
            else target
        for c in range(shape[3]):
            gap = math.fsum([*hi[:, c], *lo[:, c], -exact_target[c]])
            # exact_target (dv) is itself rounded: half an ulp of it, plus fsum's half ulp
            slack = U * (abs(exact_target[c]) + abs(gap))
            identity_ok &= abs(gap) <= math.fsum(bound[:, c]) * (1 + 2.0**-40) + slack

    bound_digits = min(_digits(float(np.max(getattr(fast, n + "_bound") / fast.scales[n])))
                       for n in ("dq", "dk", "dv"))
    benchmark.extra_info.update(
        {
            "shape": list(shape),
            "tier2_seconds": tier2,
            "torch_float64_backward_seconds": baseline,
            "ratio": ratio,
            "dq_digits_vs_tier1": _digits(worst),
            "bound_digits": bound_digits,
            "checked_rows": rows,
            "torch_threads": torch.get_num_threads(),
        }
    )
    assert violations == 0
    assert identity_ok
    assert _digits(worst) >= TARGET_DIGITS and bound_digits >= TARGET_DIGITS, (worst, bound_digits)
    assert ratio <= MAX_RATIO, (tier2, baseline)
