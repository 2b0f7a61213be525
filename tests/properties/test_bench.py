"""attnspec bench and pytest --attnspec-bench (properties/bench/, docs/bench.md): the standard
shapes, the skips with reasons, the baseline, the ratio, and regressions flagged by
pytest-benchmark's --benchmark-compare-fail and by --ratio-fail.

The runs use tiny shapes (--max-len) and short pytest-benchmark timing options, so that the
whole file takes well under a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from attnspec.kernels.registry import BUILTINS
from attnspec.kernels.spec import KernelSpec
from attnspec.properties.bench import shapes as bench_shapes
from attnspec.properties.bench.baseline import sdpa_call
from attnspec.properties.bench.cases import BenchCase, plan
from attnspec.properties.bench.command import add_parser, run
from attnspec.properties.bench.options import to_pytest_args
from attnspec.properties.bench.pairing import paired_rounds
from attnspec.properties.bench.ratios import RatioCheck, find_regressions, parse_ratio_check

ROOT = Path(__file__).resolve().parents[2]
# `attnspec bench` as properties/cli.py registers it (add_parser, then run)
COMMAND = ("import argparse, sys\n"
           "from attnspec.properties.bench.command import add_parser, run\n"
           "parser = argparse.ArgumentParser(prog='attnspec')\n"
           "add_parser(parser.add_subparsers(dest='command', required=True))\n"
           "sys.exit(run(parser.parse_args(sys.argv[1:])))\n")


def recommended_thresholds() -> dict[str, list[str]]:
    """The thresholds of every recommended line of docs/bench.md: {"--ratio-fail": [...],
    "--benchmark-compare-fail": [...]}."""
    text = (ROOT / "docs" / "bench.md").read_text()
    block = text.split("<!-- bench-thresholds:begin -->")[1].split("<!-- bench-thresholds:end -->")[0]
    found = {"--ratio-fail": [], "--benchmark-compare-fail": []}
    for line in block.splitlines():
        if line.startswith("attnspec bench KERNEL --benchmark-compare "):
            option, value = line.split("#")[0].split()[4:]
            found[option].append(value)
    return found


# docs/bench.md, "Steady CPU conditions"
STEADY_CPU = {"OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": str(2**32),
              "MALLOC_TRIM_THRESHOLD_": str(2**32)}
FAST = ("--max-len", "16", "--benchmark-max-time=0.002", "--benchmark-min-rounds=2")
KERNELS = '''
import time

from attnspec.kernels.registry import BUILTINS

_dense = BUILTINS["reference-dense"].build()


def plain(q, k, v, **options):
    return _dense(q, k, v, **options)


def slower(q, k, v, **options):  # the same kernel, made slower by a sleep before each call
    time.sleep(SLEEP_S)
    return _dense(q, k, v, **options)


plain.attnspec = slower.attnspec = _dense.attnspec


def narrow(q, k, v, *, scale=None):  # float32, no option, no GQA, D a multiple of 64
    return _dense(q, k, v, scale=scale)


narrow.attnspec = {"dtypes": ["float32"], "head_dim_multiple": 64}
'''


def bench(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", COMMAND, "bench", *args], capture_output=True,
                          text=True, cwd=cwd, env=None if env is None else {**os.environ, **env})


def kernels_file(tmp_path: Path, sleep_s: float = 0.02) -> Path:
    path = tmp_path / "kernels.py"
    path.write_text(KERNELS.replace("SLEEP_S", repr(sleep_s)))
    return path


# --- the standard shapes and the cases a kernel gets -----------------------------------------


def test_the_cpu_set_is_capped_and_names_real_head_layouts():
    shapes = bench_shapes.standard_shapes("cpu")
    prefill = [s for s in shapes if s.phase == "prefill" and s.row == "model"]
    decode = [s for s in shapes if s.phase == "decode"]
    assert {s.kv_len for s in prefill} == {512} and {s.kv_len for s in decode} == {2048}
    assert all(s.q_len == 1 and s.batch == bench_shapes.DECODE_BATCH for s in decode)
    assert all(s.q_len == s.kv_len and s.option == "causal" for s in prefill)
    layouts = {(s.layout.model, s.layout.kind) for s in shapes}
    assert ("llama3-8b", "GQA 4:1") in layouts and ("llama2-7b", "MHA") in layouts
    assert ("falcon-7b", "MQA") in layouts and ("llama3-70b", "GQA 8:1") in layouts
    assert {s.layout.head_dim for s in shapes} == {64, 80, 128, 256}
    options = {s.option for s in shapes if s.row == "option"}
    assert options == {"plain", "window", "alibi", "softcap", "mask", "lse"}
    # on cuda the ladders run to 128k tokens; --max-len caps both, on any device
    long = bench_shapes.standard_shapes("cuda")
    assert max(s.kv_len for s in long if s.phase == "prefill") == 131072
    assert {s.kv_len for s in bench_shapes.standard_shapes("cuda", max_len=2048)} == {512, 2048}
    assert {s.kv_len for s in bench_shapes.standard_shapes("cpu", max_len=16)} == {16}


def test_a_row_over_a_quarter_of_free_device_memory_is_skipped_with_the_sizes():
    (shape,) = [s for s in bench_shapes.standard_shapes("cuda") if s.id ==
                "llama2-7b/decode/B4/L131072/plain"]
    need = shape.io_bytes(2)
    assert bench_shapes.memory_reason(shape, 2, free_bytes=4 * need) is None
    reason = bench_shapes.memory_reason(shape, 2, free_bytes=2 * need)
    assert "GiB" in reason and "25% of the" in reason


def test_cases_a_kernel_cannot_take_carry_every_reason():
    spec = KernelSpec(dtypes=("float32", "float16"), causal="top_left", head_dim_multiple=64,
                      max_head_dim=128)
    cases = plan(bench_shapes.standard_shapes("cpu", max_len=16), spec, "cpu", None)
    reasons = {case.id: reason for case, reason in cases}
    # model rows in every declared dtype, option rows in the first declared of the order
    assert "cpu/llama2-7b/prefill/B1/L16/causal/float32" in reasons
    assert "cpu/llama2-7b/prefill/B1/L16/causal/float16" in reasons
    assert "cpu/mpt-7b/prefill/B1/L16/alibi/float16" in reasons
    assert not any(i.endswith("bfloat16") or "alibi/float32" in i for i in reasons)
    assert reasons["cpu/llama2-7b/prefill/B1/L16/causal/float32"] is None
    assert "not a multiple of the kernel's head_dim_multiple=64" in (
        reasons["cpu/phi-2/prefill/B1/L16/causal/float32"])
    assert "over the kernel's max_head_dim=128" in reasons["cpu/gemma-7b/prefill/B1/L16/causal/float16"]
    assert "the kernel does not declare gqa" in reasons["cpu/falcon-7b/decode/B4/L16/plain/float32"]
    both = reasons["cpu/gemma2-9b/prefill/B1/L16/softcap/float16"]
    assert "softcap row: the kernel does not declare softcap" in both and "gqa" in both
    assert "max_head_dim" in both


@pytest.mark.parametrize("option", ["causal", "window", "alibi", "mask", "plain"])
def test_the_baseline_computes_what_the_kernel_is_asked_to(option):
    # SDPA's keywords, prepared by the baseline, give the contract's answer (reference-dense)
    shape = next(s for s in bench_shapes.standard_shapes("cpu", max_len=24)
                 if s.option == option and s.layout.model in ("llama3-8b", "mistral-7b", "mpt-7b"))
    inputs = BenchCase(shape, "float64", "cpu").inputs()
    dense = BUILTINS["reference-dense"].build()
    expected = dense(inputs.q, inputs.k, inputs.v, **inputs.kwargs)
    torch.testing.assert_close(sdpa_call(inputs)(), expected, rtol=1e-10, atol=1e-12)


# --- ratios, the regression check, rounds ----------------------------------------------------


def test_ratio_checks_parse_and_flag_only_growth_past_the_limit():
    assert parse_ratio_check("min:25%") == RatioCheck("min", 25.0)
    for bad in ("min:25", "stddev:10%", "min:-5%", "25%"):
        with pytest.raises(ValueError, match="FIELD:N%"):
            parse_ratio_check(bad)
    stored = {"benchmarks": [
        {"fullname": "a/kernel", "extra_info": {"role": "kernel", "ratio_min": 2.0}},
        {"fullname": "b/kernel", "extra_info": {"role": "kernel", "ratio_min": 2.0}},
        {"fullname": "a/baseline", "extra_info": {"role": "baseline"}}]}
    current = {"a/kernel": ("a", {"ratio_min": 2.6}), "b/kernel": ("b", {"ratio_min": 2.4}),
               "c/kernel": ("c", {"ratio_min": 9.0})}  # c: not in the stored run
    (found,) = find_regressions(current, [("run 1", stored)], (RatioCheck("min", 25.0),))
    assert found.name == "a" and "+30.0%" in str(found) and "limit 25%" in str(found)
    # the whole run: geometric mean of 1.3 and 1.2 over the two shared cases, about +24.9%
    whole = parse_ratio_check("geomean-min:20%")
    assert whole == RatioCheck("min", 20.0, whole_run=True)
    (found,) = find_regressions(current, [("run 1", stored)], (whole,))
    assert found.name == "2 cases" and "+24.9%" in str(found)
    assert find_regressions(current, [("run 1", stored)], (parse_ratio_check("geomean-min:25%"),)) == []


def test_rounds_follow_pytest_benchmarks_rule():
    assert paired_rounds(0.1, max_time=1.0, min_rounds=5) == 10
    assert paired_rounds(0.5, max_time=1.0, min_rounds=5) == 5
    assert paired_rounds(0.0, max_time=1.0, min_rounds=3) == 3


def test_bench_options_after_the_kernel_take_pytests_spelling_and_the_rest_is_untouched():
    args = ["--max-len", "64", "--benchmark-compare-fail", "min:5%", "--device=cpu", "-k", "x",
            "--ratio-fail", "min:10%", "mean:20%"]
    assert to_pytest_args(args) == [
        "--attnspec-bench-max-len", "64", "--benchmark-compare-fail", "min:5%",
        "--attnspec-bench-device=cpu", "-k", "x", "--attnspec-bench-ratio-fail", "min:10%",
        "mean:20%"]


@pytest.mark.parametrize("args, message", [
    (["nowhere:attention"], "cannot import 'nowhere'"),
    (["no-such-kernel"], "unknown kernel 'no-such-kernel'"),
    (["reference-dense", "--ratio-fail", "min:lots"], "FIELD:N%"),
    (["reference-dense", "--max-len", "0"], "at least 1"),
    (["reference-dense", "--device", "tpu"], "unknown device 'tpu'"),
    (["sdpa-flash-cpu", "--device", "cuda"], "does not declare device 'cuda'"),
])
def test_usage_errors_exit_2_with_one_line_before_pytest_starts(args, message, capsys):
    parser = argparse.ArgumentParser(prog="attnspec")
    add_parser(parser.add_subparsers(dest="command", required=True))
    assert run(parser.parse_args(["bench", *args])) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err


# --- the command and the plugin, end to end ---------------------------------------------------


def test_the_command_writes_kernel_and_baseline_entries_with_a_ratio(tmp_path):
    report = tmp_path / "bench.json"
    case = "cpu/llama3-8b/prefill/B1/L16/causal/float32"
    done = bench(tmp_path, "reference-dense", *FAST, "-k", case, f"--benchmark-json={report}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    data = json.loads(report.read_text())
    assert data["machine_info"]["attnspec_bench"]["device"] == "cpu"
    entries = {b["extra_info"]["role"]: b for b in data["benchmarks"]}
    assert set(entries) == {"baseline", "kernel"}
    kernel, baseline = entries["kernel"], entries["baseline"]
    assert kernel["fullname"] == f"attnspec-bench::test_attention[{case}/kernel]"
    assert kernel["group"] == baseline["group"] == case
    assert kernel["extra_info"]["kernel"] == "reference-dense"
    assert "scaled_dot_product_attention" in baseline["extra_info"]["timed"]
    info = kernel["extra_info"]
    assert (info["B"], info["Hq"], info["Hk"], info["Lq"], info["Lk"], info["D"]) == (
        1, 32, 8, 16, 16, 128)
    # the ratio: the kernel's rounds over the baseline calls paired with them
    assert info["ratio_min"] == pytest.approx(kernel["stats"]["min"] / info["baseline_paired_min"])
    assert all(info[f"ratio_{f}"] > 0 for f in ("min", "median", "mean", "max"))
    assert f"{case}  " in done.stdout and "attnspec bench: kernel / baseline" in done.stdout


def test_shapes_a_kernel_cannot_take_are_skipped_with_the_reason(tmp_path):
    kernels = kernels_file(tmp_path)
    done = bench(tmp_path, f"{kernels}:narrow", "--max-len", "8", "--benchmark-max-time=0.001",
                 "--benchmark-min-rounds=1")
    assert done.returncode == 0, done.stdout[-3000:]
    out = done.stdout
    assert "causal row: the kernel does not declare causal (it takes no causal=)" in out
    assert "phi-2 has head dim 80, not a multiple of the kernel's head_dim_multiple=64" in out
    assert "falcon-7b has 71 query heads on 1 kv head(s) (MQA): the kernel does not declare gqa" in out
    assert "window row: the kernel does not declare window" in out
    # Llama-2-7B's decode (MHA, D = 128) alone runs, in float32 alone, kernel and baseline;
    # the other 13 cases are skipped
    assert "2 passed, 13 skipped" in out, out[-1500:]
    assert "cpu/llama2-7b/decode/B4/L8/plain/float32" in out and "bfloat16" not in out
    assert "skipped: 13 cases, by reason:" in out


def _compare_setup(tmp_path):
    # every threshold docs/bench.md recommends, for both conditions
    thresholds = recommended_thresholds()
    assert len(thresholds["--ratio-fail"]) == 4 and len(thresholds["--benchmark-compare-fail"]) == 2
    checks = ["--ratio-fail", *thresholds["--ratio-fail"],
              "--benchmark-compare-fail", *thresholds["--benchmark-compare-fail"]]
    kernels = kernels_file(tmp_path)
    # the float32 model rows at 64 tokens (8 cases), in the steady conditions docs/bench.md
    # gives for a CPU: one thread (another process on the machine then stalls no thread
    # barrier inside a call) and glibc's malloc thresholds fixed (large temporaries are then
    # not returned to the system and faulted back in, at a cost that flips between runs)
    shape = ("--max-len", "64", "-k", "float32", "--benchmark-max-time=0.1",
             "--benchmark-min-rounds=10")
    saved = bench(tmp_path, f"{kernels}:plain", *shape, "--benchmark-autosave", env=STEADY_CPU)
    assert saved.returncode == 0, saved.stdout[-3000:]
    assert len(list((tmp_path / ".benchmarks").rglob("0001_*.json"))) == 1
    return thresholds, checks, kernels, shape


@pytest.mark.benchmark  # a timing comparison: kept out of the default run, where the tests of
def test_the_same_kernel_is_not_flagged_against_its_own_run(tmp_path):  # other workers load it
    """The unchanged kernel against its own stored run, at every recommended threshold: what the
    thresholds were chosen for (docs/bench.md's measured spread). It asserts that noise stays
    under a limit, so it runs with the benchmarks (README), not in the default test run."""
    _, checks, kernels, shape = _compare_setup(tmp_path)
    same = bench(tmp_path, f"{kernels}:plain", *shape, "--benchmark-compare", *checks,
                 env=STEADY_CPU)
    assert same.returncode == 0, same.stdout[-3000:]
    assert "has regressed" not in same.stdout + same.stderr


def test_a_slower_kernel_is_flagged(tmp_path):
    """A 20 ms sleep per call on 64-token rows (well under a millisecond of work): flagged by
    every recommended threshold, whatever the load."""
    thresholds, checks, kernels, shape = _compare_setup(tmp_path)
    slow = bench(tmp_path, f"{kernels}:slower", *shape, "--benchmark-compare", *checks,
                 env=STEADY_CPU)
    out = slow.stdout + slow.stderr
    assert slow.returncode == 1, out[-3000:]
    for check in thresholds["--ratio-fail"]:  # each flags, in the list under the ratio table
        field, limit = check.removeprefix("geomean-").split(":")
        scope = "8 cases: " if check.startswith("geomean-") else "float32: "
        assert f"{scope}ratio of {field} " in out and f"(limit {limit})" in out, (check, out[-3000:])
    for check in thresholds["--benchmark-compare-fail"]:  # pytest-benchmark's own report
        limit = float(check.split(":")[1].rstrip("%"))
        assert "Field 'min' has failed PercentageRegressionCheck" in out
        assert f"> {limit:.9f}" in out, (check, out[-3000:])


# A user's own pytest, run plainly: not as a worker of this test run's pytest-xdist, whose
# PYTEST_XDIST_* variables would switch pytest-benchmark off in it (as it is in any xdist run).
PLAIN_PYTEST = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}


def test_pytest_attnspec_bench_runs_inside_the_users_pytest(tmp_path):
    (tmp_path / "test_user.py").write_text("def test_users_own():\n    assert True\n")
    report = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
         str(tmp_path), "--attnspec-bench", "reference-dense", "--attnspec-bench-max-len", "16",
         "--benchmark-max-time=0.002", "--benchmark-min-rounds=2", "-k",
         "users_own or llama2-7b/decode", f"--benchmark-json={report}"],
        capture_output=True, text=True, cwd=tmp_path, env=PLAIN_PYTEST)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "9 passed" in done.stdout, done.stdout[-1500:]  # 4 dtypes x 2 roles, and the user's
    names = {b["fullname"] for b in json.loads(report.read_text())["benchmarks"]}
    assert "attnspec-bench::test_attention[cpu/llama2-7b/decode/B4/L16/plain/bfloat16/kernel]" in names
    no_compare = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
         str(tmp_path), "--attnspec-bench", "reference-dense", "--attnspec-bench-ratio-fail",
         "min:10%"], capture_output=True, text=True, cwd=tmp_path, env=PLAIN_PYTEST)
    assert no_compare.returncode == 4
    assert "needs a stored run to compare with" in no_compare.stdout + no_compare.stderr
