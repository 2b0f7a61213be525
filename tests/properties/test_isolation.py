"""Process isolation: a kernel that kills its process is a verdict with its case, not a crash.

The crashing kernels (tests/zoo/crashing_kernels.py) are correct except on decode rows, where
they segfault, abort, are killed or exit. Checked through the CLI, each death is a violation
naming the signal, shrunk to a q_len 1 case, the other properties still run in a fresh worker,
and the JSON report is written; a correct kernel gets the same verdicts (and the same worst
ratios, on the same derandomized cases) with and without isolation; a kernel that writes into
its inputs is still caught when it writes in the worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from attnspec.properties import suites
from attnspec.properties.attention.calls import call_attention
from attnspec.properties.attention.context import isolate, isolation_mode
from attnspec.properties.engine.invoker import SubjectFailure
from attnspec.properties.engine.suite import RunOptions
from attnspec.properties.loading import load_kernel

ROOT = Path(__file__).resolve().parents[2]
CRASHING = "tests/zoo/crashing_kernels.py"
ZOO = "tests/zoo/buggy_kernels.py"
BACKWARD_ZOO = "tests/zoo/buggy_backward_kernels.py"


def cli(*args):
    return subprocess.run([sys.executable, "-m", "attnspec.properties.cli", *args],
                          capture_output=True, text=True, cwd=ROOT)


def check_crashing(name: str, properties: list[str], report: Path):
    flags = [f for p in properties for f in ("--property", p)]
    done = cli("check", f"{CRASHING}:{name}", "--effort", "quick", "--max-examples", "10",
               *flags, "--json", str(report))
    return done, json.loads(report.read_text())


@pytest.mark.parametrize("name, signal_text", [
    ("segfaults_on_decode_rows", "signal 11 (SIGSEGV)"),
    # the same path with another signal, ~45 s: under -m long (the default run's time budget)
    pytest.param("aborts_on_decode_rows", "signal 6 (SIGABRT)", marks=pytest.mark.long),
])
def test_a_kernel_that_dies_on_decode_rows_is_reported_with_its_case(tmp_path, name, signal_text):
    properties = ["output_matches_oracle", "output_shape_dtype_device", "critical_wmax_law"]
    done, data = check_crashing(name, properties, tmp_path / "report.json")
    assert done.returncode == 1, done.stdout + done.stderr  # a verdict, not -11 or -6
    results = {r["property"]: r for r in data["results"]}
    assert list(results) == properties
    for prop in properties:  # each ran, in a fresh worker after the one before it died
        assert results[prop]["status"] == "VIOLATED", results[prop]
        assert results[prop]["examples"] > 0
    for prop in properties[:2]:
        example = results[prop]["counterexample"]
        assert f"kernel crashed: the kernel's process died of {signal_text}" in example["detail"]
        assert example["case"]["q_len"] == 1, example["case"]
    # a law draws decode rows of long random contexts: the same death, named in its reason
    law = results["critical_wmax_law"]["reason"]
    assert f"crashed: the kernel's process died of {signal_text}" in law
    assert signal_text in done.stdout and "reproduce: attnspec reproduce" in done.stdout
    # the reproducer runs the kernel isolated too: the crash reproduces as the same verdict
    example = results["output_matches_oracle"]["counterexample"]
    again = cli("reproduce", f"{CRASHING}:{name}", "--property", "output_matches_oracle",
                "--device", example["device"], "--case", json.dumps(example["case"]))
    assert again.returncode == 1, again.stdout + again.stderr
    assert f"VIOLATED: kernel crashed: the kernel's process died of {signal_text}" in again.stdout


@pytest.mark.parametrize("name, words", [
    ("killed_on_decode_rows", "died of signal 9 (SIGKILL; the out-of-memory killer sends it)"),
    ("exits_on_decode_rows", "exited with status 3 in the middle of a call"),
])
def test_every_death_names_how_and_the_next_call_runs_in_a_fresh_worker(name, words):
    subject = load_kernel(f"{CRASHING}:{name}")
    assert isolate(subject, None) == "process"  # the default for a kernel of your own
    k = v = torch.randn(1, 1, 5, 4)
    with pytest.raises(SubjectFailure) as failure:
        call_attention(subject.invoker, subject.fn, torch.randn(1, 1, 1, 4), k, v, {}, "decode", 30)
    assert failure.value.kind == "crashed" and failure.value.message == f"the kernel's process {words}"
    call = call_attention(subject.invoker, subject.fn, torch.randn(1, 1, 3, 4), k, v, {}, "prefill", 30)
    assert call.out.shape == (1, 1, 3, 4) and call.out.dtype == torch.float32
    assert subject.invoker.isolation.workers_started == 2


def test_built_ins_run_in_process_by_default_and_kernels_of_your_own_isolated():
    assert isolation_mode(load_kernel("reference-dense"), None) == "none"
    assert isolation_mode(load_kernel(f"{ZOO}:control_dense"), None) == "process"
    assert isolation_mode(load_kernel("reference-dense"), "process") == "process"


def test_a_correct_kernel_gets_the_same_verdicts_with_and_without_isolation():
    # searches under one seed draw the same cases in both modes, so even the worst ratios
    # agree: what comes back from the worker is bitwise what the kernel computed there (quick:
    # the cover's 19 cells per property at ci would add nothing to what this test shows)
    reports = {}
    for mode in ("none", "process"):
        options = RunOptions("quick", ("attention", "gradients"), max_examples=4, seed=7,
                             isolation=mode)
        reports[mode] = suites.run(load_kernel("reference-dense"), options)
    seen = {mode: [(r.suite, r.name, r.status, r.examples, r.worst and r.worst.ratio)
                   for r in report.results] for mode, report in reports.items()}
    assert seen["process"] == seen["none"]
    assert {status for _, _, status, _, _ in seen["none"]} <= {"held", "not applicable"}


@pytest.mark.parametrize("selector, prop, changed", [
    (f"{ZOO}:scales_q_in_place", "inputs_unchanged", "q:"),
    (f"{BACKWARD_ZOO}:writes_into_grad_output", "backward_leaves_inputs_unchanged", "dO:"),
])
def test_a_kernel_that_writes_into_its_inputs_is_caught_in_its_worker(selector, prop, changed):
    subject = load_kernel(selector)
    options = RunOptions("ci", properties=(prop,), max_examples=10, isolation="process")
    (result,) = [r for r in suites.run(subject, options).results if r.name == prop]
    assert subject.invoker.isolation is not None
    assert result.status == "VIOLATED", result
    assert "modified its inputs: " in result.counterexample.detail
    assert changed in result.counterexample.detail
