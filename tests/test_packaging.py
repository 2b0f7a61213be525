"""Layout and installability (docs/architecture.md); the dependency rules are in
test_dependency_rules.py."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"oracles": "attnspec.oracles", "kernels": "attnspec.kernels",
           "properties": "attnspec.properties"}


def test_every_package_folder_is_installed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for folder, name in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *parts)))
    assert found == listed, f"pyproject.toml packages differ from the folders: {found ^ listed}"
    for name in listed:
        assert config["package-dir"][name] == name.removeprefix("attnspec.").replace(".", "/")


def test_installed_package_imports_from_outside_the_repository(tmp_path):
    script = (
        "import importlib.util, sys\n"
        "import attnspec.oracles, attnspec.kernels, attnspec.properties\n"
        "for top in ('kernels', 'oracles', 'properties'):\n"
        "    spec = importlib.util.find_spec(top)\n"
        f"    assert spec is None or not str(spec.origin).startswith({str(ROOT)!r}), top\n"
        "import attnspec.oracles.attention.certified\n"
        "assert 'torch' not in sys.modules, 'importing the oracles pulled in torch'\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True)


def test_wheel_holds_only_the_attnspec_namespace(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path),
         str(ROOT)],
        check=True, cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("attnspec-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"attnspec"}
    names = zipfile.ZipFile(wheel).namelist()
    assert "attnspec/kernels/attention/dense.py" in names and "attnspec/oracles/attention/certified.py" in names
    # `pip install .` (not editable): install the wheel alone into an empty target and import
    # every package from there, with the repository nowhere on the path.
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target",
                    str(target), str(wheel)], check=True, cwd=tmp_path)
    script = (
        "import attnspec.oracles.attention.certified, attnspec.kernels.attention.dense, attnspec.properties.cli\n"
        f"assert attnspec.properties.cli.__file__.startswith({str(target)!r})\n"
        f"assert not any(p.startswith({str(ROOT)!r}) for p in attnspec.__path__)\n"
    )
    # -I: no PYTHONPATH, no user site, no working directory on the path; the wheel's target
    # goes first, the environment's site-packages (numpy, torch, ...) after it.
    subprocess.run([sys.executable, "-I", "-c",
                    f"import sys; sys.path.insert(0, {str(target)!r}); "
                    + script.replace("\n", "; ")], check=True, cwd=tmp_path)
