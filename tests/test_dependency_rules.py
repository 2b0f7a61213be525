"""The dependency rules of docs/architecture.md, read from the source (every import, including
those inside functions):

- oracles import neither torch, nor kernels, nor properties; kernels import neither oracles
  (no shared code with the oracles that judge them) nor properties;
- in each folder, the attention wing imports no paper wing; in properties/, the engine imports
  no wing and nothing of the front door (suites, options, loading, cli, plugin);
- no two modules import each other, directly or through others (no import circles);
- every package opens with an index docstring.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"oracles": "attnspec.oracles", "kernels": "attnspec.kernels",
           "properties": "attnspec.properties"}
PAPER_WINGS = ("scaling_limits", "alibi_lsh", "mean_field", "fast_slow")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [FOLDERS[rel.parts[0]], *rel.parts[1:]]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources(folder: str | None = None) -> list[Path]:
    folders = [folder] if folder else list(FOLDERS)
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


MODULES = {module_name(p): p for p in sources()}


def imported_modules(path: Path) -> set[str]:
    """Absolute names a module imports: ``from a.b import c`` counts as a.b.c when that is a
    module of attnspec, else as a.b (relative imports resolved against the package)."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1]
                                + ([node.module] if node.module else []))
            else:
                base = node.module
            for alias in node.names:
                full = f"{base}.{alias.name}"
                names.add(full if full in MODULES else base)
    return names


def ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


@pytest.mark.parametrize("path", sources("oracles"), ids=ids(sources("oracles")))
def test_oracles_import_neither_torch_nor_kernels_nor_properties(path):
    for name in imported_modules(path):
        assert not name.startswith(("torch", "attnspec.kernels", "attnspec.properties")), name


@pytest.mark.parametrize("path", sources("kernels"), ids=ids(sources("kernels")))
def test_kernels_import_neither_properties_nor_oracles(path):
    # Kernels may not share code with the oracles that judge them.
    for name in imported_modules(path):
        assert not name.startswith(("attnspec.properties", "attnspec.oracles")), name


@pytest.mark.parametrize("path", sources(), ids=ids(sources()))
def test_the_attention_wing_imports_no_paper_wing(path):
    name = module_name(path)
    if ".attention" not in name:
        return
    for imported in imported_modules(path):
        parts = imported.split(".")
        assert not (parts[0] == "attnspec" and len(parts) > 2 and parts[2] in PAPER_WINGS), (
            f"{name} imports the paper wing {imported}")


ENGINE = sorted((ROOT / "properties" / "engine").rglob("*.py"))


@pytest.mark.parametrize("path", ENGINE, ids=ids(ENGINE))
def test_the_engine_imports_no_wing_and_no_front_door(path):
    for imported in imported_modules(path):
        if imported.startswith("attnspec."):
            assert imported.startswith("attnspec.properties.engine"), (
                f"{module_name(path)} imports {imported}: the engine knows no subject")


def import_graph() -> dict[str, set[str]]:
    return {name: {m for m in imported_modules(path) if m in MODULES and m != name}
            for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


PACKAGES = sorted(p for p in sources() if p.name == "__init__.py")


@pytest.mark.parametrize("path", PACKAGES, ids=ids(PACKAGES))
def test_every_package_opens_with_an_index_docstring(path):
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and len(doc.splitlines()) >= 3, f"{path.relative_to(ROOT)} has no index docstring"
