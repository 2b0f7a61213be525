"""pytest --attnspec-kernel runs the properties inside a user's own pytest session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from attnspec.properties.attention.forward import ORDER as FORWARD_ORDER

ROOT = Path(__file__).resolve().parents[2]


def pytest_in(tmp_path, *args):
    (tmp_path / "test_user.py").write_text(
        "def test_users_own(attnspec_kernel):\n"
        "    assert attnspec_kernel.spec.dtypes\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
         str(tmp_path), *args],
        capture_output=True, text=True, cwd=tmp_path,
    )


def test_a_correct_kernel_passes_every_property_item(tmp_path):
    done = pytest_in(tmp_path, "--attnspec-kernel", "reference-dense", "--attnspec-profile",
                     "quick", "--attnspec-max-examples", "3")
    assert done.returncode == 0, done.stdout[-2000:]
    # every suite that applies, as at the command line (each of its claims an item), and the
    # user's own test
    from attnspec.properties.engine.suite import RunOptions
    from attnspec.properties.loading import load_kernel
    from attnspec.properties.suites import open_sessions

    sessions, _, _ = open_sessions(load_kernel("reference-dense"), RunOptions("quick"))
    items = sum(len(s.names()) + len(s.notes()) for s in sessions)
    assert f"{items + 1} passed" in done.stdout, done.stdout[-2000:]


def test_the_options_are_those_of_the_command(tmp_path):
    done = pytest_in(tmp_path, "--attnspec-kernel", "reference-dense", "--attnspec-effort",
                     "quick", "--attnspec-max-examples", "3", "--attnspec-suite", "attention",
                     "--attnspec-dtype", "float32", "-vv",
                     "--attnspec-json", str(tmp_path / "report.json"))
    assert done.returncode == 0, done.stdout[-2000:]
    import json

    data = json.loads((tmp_path / "report.json").read_text())  # the shape `check --json` writes
    assert data["subject"]["selector"] == "reference-dense" and data["effort"] == "quick"
    assert data["dtypes"] == ["float32"]
    assert len(data["results"]) == len(FORWARD_ORDER) and not data["violated"]
    assert f"{len(FORWARD_ORDER) + 1} passed" in done.stdout  # the properties and the user's test
    # pytest's own conventions: the items are counted at collection, and their ids are
    # paths of nodes (-k, --deselect and --lf take them)
    assert f"collected {len(FORWARD_ORDER) + 1} items" in done.stdout, done.stdout
    assert "attnspec[reference-dense]::attention::deterministic PASSED" in done.stdout, done.stdout
    bad = pytest_in(tmp_path, "--attnspec-kernel", "reference-dense", "--attnspec-effort", "huge")
    assert bad.returncode == 4 and "unknown effort 'huge'" in bad.stdout + bad.stderr


def test_a_buggy_kernel_fails_with_the_report(tmp_path):
    zoo = ROOT / "tests/zoo/buggy_kernels.py"
    # the ci effort: its cover holds two ALiBi cells (properties/attention/cover.py); the quick
    # effort draws fresh cases, and 15 of them held none in one clean CI run
    done = pytest_in(tmp_path, "--attnspec-kernel", f"{zoo}:alibi_sign_flipped",
                     "--attnspec-effort", "ci", "-k", "output_matches_oracle")
    assert done.returncode == 1
    assert "VIOLATED output_matches_oracle" in done.stdout and "reproduce:" in done.stdout


def test_a_bad_selector_is_a_usage_error(tmp_path):
    done = pytest_in(tmp_path, "--attnspec-kernel", "nowhere:attention")
    assert done.returncode == 4 and "cannot import 'nowhere'" in done.stdout + done.stderr


def test_gradients_are_items_of_their_own_and_not_applicable_without_backward(tmp_path):
    (tmp_path / "forward_only.py").write_text(
        "from attnspec.kernels.attention.dense import make_dense_kernel\n"
        "attention = make_dense_kernel()\n"
        "attention.attnspec = dict(attention.attnspec, backward=False)\n")
    done = pytest_in(tmp_path, "--attnspec-kernel", f"{tmp_path / 'forward_only.py'}:attention",
                     "--attnspec-effort", "quick", "--attnspec-max-examples", "2",
                     "--attnspec-suite", "gradients", "-rs")
    assert done.returncode == 0, done.stdout[-2000:]
    assert "6 skipped" in done.stdout
    assert "the kernel declares backward=False" in done.stdout


def test_regression_tracking_in_the_plugin(tmp_path):
    """The plugin takes check's tracking options: a known failure is an xfail, a regression
    against a baseline (made by the plugin) fails its item, --attnspec-markdown is written."""
    kernels = str(ROOT / "tests/zoo/regression_kernels.py")
    run = ["--attnspec-effort", "ci", "--attnspec-suite", "attention", "--attnspec-property",
           "output_matches_oracle", "--attnspec-max-examples", "20"]
    base = tmp_path / "base.json"
    done = pytest_in(tmp_path, "--attnspec-kernel", f"{kernels}:accurate", *run,
                     "--attnspec-json", str(base))
    assert done.returncode == 0, done.stdout[-2000:]
    md = tmp_path / "summary.md"
    done = pytest_in(tmp_path, "--attnspec-kernel", f"{kernels}:less_accurate", *run,
                     "--attnspec-baseline", str(base), "--attnspec-markdown", str(md))
    assert done.returncode == 1 and "worst err/tol grew" in done.stdout, done.stdout[-2000:]
    assert "### Regressions" in md.read_text()
    known = tmp_path / "known.txt"
    known.write_text("*dropped_tail_tile  output_matches_oracle  drops the last partial tile\n")
    done = pytest_in(tmp_path, "--attnspec-kernel", f"{ROOT / 'tests/zoo/buggy_kernels.py'}:"
                     "dropped_tail_tile", *run, "--attnspec-known-failures", str(known))
    assert done.returncode == 0 and "1 xfailed" in done.stdout, done.stdout[-2000:]
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    done = pytest_in(tmp_path, "--attnspec-kernel", f"{kernels}:accurate", *run,
                     "--attnspec-baseline", str(bad))
    assert done.returncode == 4 and "corrupt or truncated" in done.stderr, done.stderr[-2000:]
