"""attnspec check / list / reproduce: exit codes, the table, the JSON report."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from attnspec.properties.attention.forward import ORDER as FORWARD_ORDER
from attnspec.properties.cli import main

ZOO = "tests/zoo/buggy_kernels.py"


def run(*args):
    return subprocess.run([sys.executable, "-m", "attnspec.properties.cli", *args],
                          capture_output=True, text=True, cwd=pytest_root())


def pytest_root():
    from pathlib import Path

    return Path(__file__).resolve().parents[2]


def test_a_correct_kernel_exits_0_and_reports_every_property(tmp_path):
    out = tmp_path / "report.json"
    done = run("check", "reference-dense", "--profile", "quick", "--max-examples", "5",
               "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(out.read_text())
    assert not data["violated"] and data["subject"]["selector"] == "reference-dense"
    assert data["effort"] == "quick" and data["attnspec"]
    statuses = {(r["suite"], r["property"]): r["status"] for r in data["results"]}
    # every suite that applies: every contract property and the 6 scaling-limit laws; the
    # long-context suite is named as not run at this effort
    suites = [suite for suite, _ in statuses]
    assert suites.count("attention") == len(FORWARD_ORDER), statuses
    assert suites.count("scaling_limits") == 6, statuses
    assert set(statuses.values()) <= {"held", "not applicable"}
    assert "suite long_contexts: not run at effort quick" in done.stdout
    for _, name in statuses:
        assert name in done.stdout


def test_a_buggy_kernel_exits_1_with_a_reproducer_that_reproduces(tmp_path):
    out = tmp_path / "report.json"
    done = run("check", f"{ZOO}:denominator_epsilon", "--profile", "quick",
               "--property", "output_matches_oracle", "--json", str(out))
    assert done.returncode == 1
    assert "VIOLATED output_matches_oracle" in done.stdout and "reproduce: attnspec reproduce" in done.stdout
    (result,) = json.loads(out.read_text())["results"]
    example = result["counterexample"]
    assert result["status"] == "VIOLATED" and example["case"]["dtype"] in ("float32", "float64")
    again = run("reproduce", f"{ZOO}:denominator_epsilon", "--property", "output_matches_oracle",
                "--device", example["device"], "--case", json.dumps(example["case"]))
    assert again.returncode == 1 and "VIOLATED" in again.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["check", "no_such_module:attention"], "cannot import"),
        (["check", "reference-dense", "--profile", "extreme"], "unknown profile"),
        (["check", "reference-dense", "--property", "made_up"], "unknown property"),
        (["check", "reference-dense", "--max-examples", "0"], "at least 1"),
        (["reproduce", "reference-dense", "--property", "deterministic", "--case", "{bad"],
         "not a recipe"),
        (["check", "reference-dense", "--dtype", "float8"], "unknown --dtype 'float8'"),
        (["check", f"{ZOO}:denominator_epsilon", "--dtype", "float16"],
         "does not declare float16 (it declares float32, float64)"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_argparse_errors_exit_2():
    assert run("check").returncode == 2


def test_list_shows_builtins_and_properties():
    kernels = run("list")
    assert kernels.returncode == 0 and "sdpa-math" in kernels.stdout and "flex" in kernels.stdout
    assert "unavailable: needs CUDA" in kernels.stdout or "sdpa-cudnn" in kernels.stdout
    props = run("list", "--properties")
    assert "option_sensitivity" in props.stdout and "lse_merge_of_key_splits" in props.stdout


def test_fail_fast_reports_the_rest_as_not_run(tmp_path):
    out = tmp_path / "r.json"
    done = run("check", f"{ZOO}:raises_on_odd_lengths", "--profile", "quick", "--fail-fast",
               "--json", str(out))
    assert done.returncode == 1
    statuses = [r["status"] for r in json.loads(out.read_text())["results"]]
    assert statuses[0] == "VIOLATED" and set(statuses[1:]) == {"not run"}


def test_internal_errors_exit_3(tmp_path, monkeypatch):
    # A property whose own code fails is attnspec's bug, reported as such (exit 3).
    from dataclasses import replace

    from attnspec.properties.attention.suite import CONTRACT

    def broken(ctx, recipe, device):
        raise ZeroDivisionError("inside attnspec")

    prop = next(p for p in CONTRACT.properties if p.name == "deterministic")
    monkeypatch.setattr(CONTRACT, "properties", [replace(prop, check=broken)])
    assert main(["check", "reference-dense", "--profile", "quick", "--max-examples", "2",
                 "--suite", "attention"]) == 3


def test_a_run_that_checks_nothing_is_no_pass(capsys):
    """The long-context suite alone at the ci effort (it is planned at thorough only): no
    property runs, and that is said and exits 1, never 0."""
    assert main(["check", "reference-dense", "--suite", "long_contexts"]) == 1
    out = capsys.readouterr().out
    assert "not run at effort ci" in out and "nothing was checked" in out


def test_dtype_restricts_every_suite_to_the_chosen_dtypes(tmp_path):
    """--dtype (repeatable) draws only the chosen dtypes, in every suite; the report says which,
    and every row with a worst case names its dtype."""
    out = tmp_path / "r.json"
    assert main(["check", "reference-dense", "--effort", "quick", "--max-examples", "4",
                 "--dtype", "bfloat16", "--dtype", "float64", "--suite", "attention",
                 "--suite", "gradients", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["subject"]["dtypes"] == ["bfloat16", "float64"] == data["dtypes"]
    drawn = {r["worst"]["dtype"] for r in data["results"] if r.get("worst") and r["worst"]["dtype"]}
    assert drawn and drawn <= {"bfloat16", "float64"}, drawn


def test_the_dtype_of_a_violation_is_in_its_row(capsys):
    assert main(["check", f"{ZOO}:denominator_epsilon", "--effort", "ci", "--max-examples", "5",
                 "--property", "output_matches_oracle", "--dtype", "float32"]) == 1
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.startswith("output_matches_oracle"))
    assert "VIOLATED" in row and "[float32, cpu]" in row, row


def test_a_seed_repeats_a_quick_run_and_another_seed_draws_other_cases(tmp_path):
    def worst(seed: str) -> list:
        out = tmp_path / f"{seed}.json"
        assert main(["check", "reference-dense", "--effort", "quick", "--max-examples", "3",
                     "--suite", "attention", "--property", "output_matches_oracle",
                     "--property", "lse_merge_of_key_splits", "--seed", seed,
                     "--json", str(out)]) == 0
        data = json.loads(out.read_text())
        assert data["seed"] == int(seed)
        return [r["worst"] for r in data["results"]]

    assert worst("3") == worst("3")
    assert worst("3") != worst("4")


def test_a_seed_must_be_a_whole_number_from_0(capsys):
    assert main(["check", "reference-dense", "--seed", "-1"]) == 2
    assert "--seed must be" in capsys.readouterr().err
