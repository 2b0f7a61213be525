"""Speed of the mean-field flows: the integrator's throughput in token-steps per second on CPU
for n = 64 to 1024 tokens, and the cost of the depth test (the mean_field suite) per kernel at
the ci profile.

Run: .venv/bin/pytest tests/benchmarks/test_bench_mean_field.py -m benchmark -s
Setup: plain SA flow, d = 3, beta = 1, B = 4 runs advanced together, RK4 (4 attention calls per
step), float64 state; the attention is the dense reference (float64) or SDPA's math backend in
float32. A token-step is one token advanced by one RK4 step. The depth-test cost is the wall
time of every mean_field law at ci on one kernel (in process, no isolation). Numbers go to
benchmark.extra_info and are printed; docs/mean-field.md has the measured table. The assertion
is loose (a shared 2-core machine): the ci suite takes under 60 s per kernel. Run with
OMP_NUM_THREADS=1 on a loaded machine (small calls took 20 ms on two threads, 0.4 ms on one).
"""

import time

import pytest
import torch

from attnspec.kernels.mean_field import TokenModel, integrate, random_tokens
from attnspec.kernels.registry import BUILTINS

pytestmark = pytest.mark.benchmark

STEPS = 5
RUNS = 4


def _sdpa_f32():
    return BUILTINS["sdpa-math"].build()


@pytest.mark.parametrize("kernel", ["reference-dense-f64", "sdpa-math-f32"])
@pytest.mark.parametrize("n", [64, 256, 1024])
def test_integrator_throughput(benchmark, n, kernel):
    x0 = random_tokens(RUNS, n, 3, seed=1)
    model = TokenModel("plain", 1.0, "SA")
    if kernel == "reference-dense-f64":
        kwargs = {}
    else:
        kwargs = {"attention": _sdpa_f32(), "dtype": torch.float32}
    benchmark.pedantic(lambda: integrate(x0, model, steps=STEPS, dt=0.1, **kwargs), rounds=3, iterations=1)
    seconds = benchmark.stats.stats.min
    rate = RUNS * n * STEPS / seconds
    benchmark.extra_info.update({"n": n, "token_steps_per_second": rate, "kernel": kernel})
    print(f"\n{kernel} n={n}: {rate:.3g} token-steps/s ({seconds / STEPS * 1e3:.1f} ms per RK4 step of {RUNS} runs)")


# flex is not timed here: eager FlexAttention costs ~100 ms per CPU call and the suite took
# 166-235 s on it (docs/mean-field.md "Speed"), an open problem rather than a benchmark.
@pytest.mark.parametrize("selector", ["reference-dense", "sdpa-math"])
def test_depth_test_cost_per_kernel_at_ci(benchmark, selector):
    from attnspec.properties.attention.context import isolate
    from attnspec.properties.loading import load_kernel
    from attnspec.properties.mean_field.catalogue import LAWS
    from attnspec.properties.mean_field.source import KernelFlowSource

    subject = load_kernel(selector)
    isolate(subject, "none")
    source = KernelFlowSource(subject)
    seconds = {}

    def run_all():
        for law in LAWS:
            t0 = time.perf_counter()
            result = law.check(source, "ci")
            seconds[law.name] = (time.perf_counter() - t0, result.status)

    benchmark.pedantic(run_all, rounds=1, iterations=1)
    total = sum(s for s, _ in seconds.values())
    benchmark.extra_info.update({"selector": selector, "dtype": source.dtype, "total_s": total,
                                 "per_law": {k: v[0] for k, v in seconds.items()}})
    print(f"\n{selector} ({source.dtype}): {total:.1f} s; " +
          ", ".join(f"{k} {v[0]:.1f} s {v[1]}" for k, v in seconds.items()))
    assert total < 60
