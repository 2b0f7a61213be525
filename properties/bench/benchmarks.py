"""The pytest-benchmark test module of a bench run: ``test_attention``, once per planned case
and role, through pytest-benchmark's ``benchmark`` fixture (so that its options, storage,
autosave, compare and compare-fail apply as they always do).

Each case that the kernel can take gives two tests, in this order:

    test_attention[cpu/llama3-8b/prefill/B1/L512/causal/bfloat16/baseline]   SDPA, default backend
    test_attention[cpu/llama3-8b/prefill/B1/L512/causal/bfloat16/kernel]     the kernel under test

in one pytest-benchmark group (its table then shows the two side by side); the kernel's entry
carries its ratios to the baseline in its extra_info. A case the kernel cannot take gives one
``.../kernel`` test, skipped with the reason (cases.py). The names hold no kernel selector, so a
run of one kernel, or of a new version of it, compares with a stored run of another.

Each test builds its inputs and calls once outside the timing (first-call costs: allocation,
kernel selection, compilation; and, for the kernel, a check of what it returns). The baseline's
entry is pytest-benchmark's calibrated ``benchmark(call)``. The kernel's entry is its
``pedantic`` mode with one baseline call, timed apart, before each round (pairing.py): its
figures are the kernel's own, and its ratios compare them with baseline calls made in the same
seconds. On CUDA every call ends with torch.cuda.synchronize (the untimed first call too, so
nothing earlier runs into a round): a round measures the work, not its launch. A call that runs
out of CUDA memory is skipped with that reason. The plugin collects this module (plugin.py); it
is not a test file of the project.
"""

from __future__ import annotations

from typing import Callable

import pytest
import torch
from pytest_benchmark.utils import load_timer

from attnspec.properties.bench.baseline import DESCRIPTION, NOTES, sdpa_call
from attnspec.properties.bench.cases import BenchCase, CaseInputs
from attnspec.properties.bench.pairing import PairedBaseline, paired_rounds
from attnspec.properties.bench.ratios import ratios
from attnspec.properties.bench.session import SESSION, Measured

ROLES = ("baseline", "kernel")


def pytest_generate_tests(metafunc):
    session = metafunc.config.stash[SESSION]
    params = []
    for case, reason in session.cases:
        if reason is not None:
            params.append(pytest.param(case.id, "kernel", id=f"{case.id}/kernel",
                                       marks=pytest.mark.skip(reason=reason)))
            continue
        params.extend(pytest.param(case.id, role, id=f"{case.id}/{role}") for role in ROLES)
    metafunc.parametrize(("case", "role"), params)


def test_attention(benchmark, case: str, role: str, request):
    session = request.config.stash[SESSION]
    bench_case = next(c for c, _ in session.cases if c.id == case)
    inputs = bench_case.inputs()
    fn, q, k, v, kwargs = session.subject.fn, inputs.q, inputs.k, inputs.v, inputs.kwargs

    def kernel_call():
        return fn(q, k, v, **kwargs)

    kernel = synchronized(kernel_call, q.device)
    baseline = synchronized(sdpa_call(inputs), q.device)
    benchmark.group = case
    benchmark.extra_info.update(describe(bench_case, role, session.selector))
    timed = baseline if role == "baseline" else kernel
    first, out_of_memory = first_call(timed)
    if out_of_memory:
        pytest.skip(f"the {role} ran out of device memory on this shape: {out_of_memory}")
    if role == "baseline":
        del first
        benchmark(baseline)
        return
    check_form(first, inputs)
    del first

    _, out_of_memory = first_call(baseline)
    if out_of_memory:  # the kernel alone, with no ratio
        benchmark.extra_info["ratio_note"] = "no ratio: the baseline ran out of device memory"
        benchmark(kernel)
        return
    config = request.config
    timer = load_timer(config.getoption("benchmark_timer")).target  # pytest-benchmark's timer
    paired = PairedBaseline(baseline, timer)
    start = timer()
    kernel()
    kernel_seconds = timer() - start
    paired.setup()
    rounds = paired_rounds(kernel_seconds + paired.seconds.pop(),
                           float(config.getoption("benchmark_max_time")),
                           config.getoption("benchmark_min_rounds"))
    benchmark.pedantic(kernel, setup=paired.setup, rounds=rounds, iterations=1)
    if benchmark.stats is None:  # --benchmark-disable: the call ran once, untimed
        return
    found = ratios(benchmark.stats.stats, paired.timings())
    benchmark.extra_info.update(found)
    benchmark.extra_info["baseline_paired_min"] = paired.timings().min
    session.measured.append(Measured(bench_case, request.node.nodeid, benchmark.stats.stats,
                                     paired.timings(), found))


def synchronized(call: Callable, device: torch.device) -> Callable:
    """``call``, ending with a CUDA synchronize on a CUDA device (no change elsewhere)."""
    if device.type != "cuda":
        return call

    def timed():
        result = call()
        torch.cuda.synchronize(device)
        return result

    return timed


def first_call(timed: Callable):
    """One untimed call: (its result, None), or (None, the reason) when it ran out of CUDA
    memory."""
    try:
        return timed(), None
    except torch.cuda.OutOfMemoryError as error:
        torch.cuda.empty_cache()
        return None, (str(error).splitlines() or ["out of memory"])[0]


def check_form(result, inputs: CaseInputs) -> None:
    """Fail the test, in one line, unless the kernel returned out [B, Hq, Lq, Dv] of q's dtype
    on q's device (and (out, lse) when asked for lse)."""
    q = inputs.q
    if inputs.kwargs.get("return_lse"):
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            pytest.fail(f"return_lse=True, but the kernel returned a {type(result).__name__}, "
                        f"not (out, lse)", pytrace=False)
        result = result[0]
    expected = inputs.expected_out_shape()
    if not isinstance(result, torch.Tensor):
        pytest.fail(f"the kernel returned a {type(result).__name__}, not a tensor", pytrace=False)
    if tuple(result.shape) != expected or result.dtype != q.dtype or result.device != q.device:
        pytest.fail(f"the kernel returned out {tuple(result.shape)} {result.dtype} on "
                    f"{result.device}; expected {expected} {q.dtype} on {q.device}", pytrace=False)


def describe(case: BenchCase, role: str, selector: str) -> dict:
    """The entry's extra_info: what was timed, on what shape."""
    s, layout = case.shape, case.shape.layout
    info = {"role": role, "timed": selector if role == "kernel" else DESCRIPTION,
            "kernel": selector, "model": layout.model, "heads": layout.kind,
            "phase": s.phase, "option": s.option, "dtype": case.dtype, "device": case.device,
            # q [B, Hq, Lq, D], k and v [B, Hk, Lk, D]
            "B": s.batch, "Hq": layout.q_heads, "Hk": layout.kv_heads, "Lq": s.q_len,
            "Lk": s.kv_len, "D": layout.head_dim}
    if role == "baseline" and s.option in NOTES:
        info["note"] = NOTES[s.option]
    return info
