"""attnspec laws check / laws phase: exit codes, the table, the JSON report, the picture."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import torch

from attnspec.kernels.attention.dense import make_dense_kernel
from attnspec.properties.cli import main

_dense = make_dense_kernel(torch.float64)


def ignores_scale(q, k, v, *, scale=None, **kw):
    """A mutant attention kernel: drops ``scale`` (uses 1/sqrt(D))."""
    return _dense(q, k, v, **kw)


ignores_scale.attnspec = dict(_dense.attnspec)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


def test_laws_check_on_the_default_kernel_exits_0_with_a_row_per_law(tmp_path, capsys):
    out = tmp_path / "laws.json"
    code = main(["laws", "check", "--law", "supercritical_one_minus_wmax",
                 "--law", "finite_input_temperature_laws", "--json", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert re.search(r"supercritical_one_minus_wmax +held", text)
    assert "finite_input_temperature_laws" in text and "not applicable" in text
    data = json.loads(out.read_text())
    assert data["subject"]["name"] == "streaming Monte Carlo" and not data["violated"]
    law = data["results"][0]
    assert law["suite"] == "scaling_limits" and law["property"] == "supercritical_one_minus_wmax"
    assert law["false_alarm"] == 1e-6 and law["seed"] == 8100 and law["examples"] == 12_000
    assert all(c["held"] for c in law["checks"]) and law["checks"][0]["samples"] == 10_000


def test_laws_check_on_a_mutant_kernel_exits_1_and_names_the_failing_test(capsys):
    code = main(["laws", "check", "--kernel", f"{__file__}:ignores_scale", "--law",
                 "supercritical_one_minus_wmax"])
    text = capsys.readouterr().out
    assert code == 1
    assert "VIOLATED" in text and "FAIL" in text and "ln2 K_d/gamma" in text


@pytest.mark.parametrize("args, message", [
    (["laws", "check", "--size", "huge"], "unknown size"),
    (["laws", "check", "--law", "made_up"], "unknown law"),
    (["laws", "check", "--kernel", "no_such_module:attention"], "cannot import"),
    (["laws", "phase", "--d", "1"], "--d values must be >= 2"),
])
def test_laws_usage_errors_exit_2_with_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_laws_phase_writes_a_png(tmp_path, capsys):
    out = tmp_path / "phase.png"
    code = main(["laws", "phase", "--d", "3", "8", "--n", "300", "1000", "--contexts", "20",
                 "--sub-n", "1000", "--points", "6", "--out", str(out)])
    assert code == 0 and f"wrote {out}" in capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000


def test_laws_phase_without_matplotlib_exits_2_with_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert main(["laws", "phase", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "matplotlib" in err and "attnspec[plot]" in err and "\n" not in err
    assert not Path(tmp_path / "x.png").exists()
