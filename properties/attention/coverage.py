"""What a ci run draws, per property and feature: the table in docs/coverage.md.

The table is made by running each property of the ``attention`` and ``gradients`` suites
through the engine's driver exactly as ``attnspec check`` does, on the declaration of a kernel
that declares every feature (reference-dense: four dtypes, bottom-right causal, ALiBi, mask,
GQA, window, softcap, lse, backward), with a context that records the cases the cover's cells
(attention/cover.py) produce and checks nothing. Those cases are what every ci and thorough run
checks first, whatever the kernel: a search of one case in a cell is hypothesis's simplest case
there, which does not depend on the kernel's answers. The random draws that follow are steered
by the kernel's errors (hypothesis.target) and are not in the table.

    python -m attnspec.properties.attention.coverage          # print the tables
    python -m attnspec.properties.attention.coverage --write  # rewrite docs/coverage.md

tests/properties/test_coverage.py keeps docs/coverage.md equal to what this module prints, and
holds every property to the cover's promise.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from attnspec.kernels.spec import DTYPES
from attnspec.properties.attention.cover import COVER, TILE_EDGES_COVERED, Cell
from attnspec.properties.attention.recipe import Recipe
from attnspec.properties.engine.property import HOLDS

EVERY_FEATURE = "reference-dense"  # the built-in kernel whose declaration has every feature
DOC = Path(__file__).resolve().parents[2] / "docs" / "coverage.md"
BEGIN, END = "<!-- coverage: begin (generated) -->", "<!-- coverage: end -->"


def recording(context_class):
    """``context_class`` made to record the cases drawn in the cover's cells, checking none."""

    class Recording(context_class):
        def __init__(self, subject, profile):
            super().__init__(subject, profile)
            self.drawn: list[tuple[Cell, Recipe]] = []

        def draw_case(self, prop, draw, cell=None):
            recipe, device = super().draw_case(prop, draw, cell)
            if cell is not None:
                self.drawn.append((cell, recipe))
            return recipe, device

        def check_case(self, prop, case):
            return HOLDS

    return Recording


def cover_cases(effort: str = "ci") -> dict[str, list[tuple[Cell, Recipe]]]:
    """Property name -> the (cell, recipe) pairs its cover searches check, in the attention
    and gradients suites at ``effort``, for the every-feature declaration."""
    from attnspec.properties.attention.suite import CONTRACT, GRADIENTS
    from attnspec.properties.engine.driver import run_property
    from attnspec.properties.loading import load_kernel

    subject = load_kernel(EVERY_FEATURE)
    out: dict[str, list[tuple[Cell, Recipe]]] = {}
    for suite in (CONTRACT, GRADIENTS):
        plan, context = suite.plans[effort], recording(suite.context)
        for prop in suite.properties:
            ctx = context(subject, plan)
            run_property(prop, ctx, plan.adjusted(max_examples=1), suite.name)
            out[prop.name] = ctx.drawn
    return out


def _edges(lengths) -> str:
    drawn = set(lengths)
    missing = [n for n in TILE_EDGES_COVERED if n not in drawn]
    if not missing:
        return f"all {len(TILE_EDGES_COVERED)}"
    return f"{len(TILE_EDGES_COVERED) - len(missing)} (not {', '.join(map(str, missing))})"


def _masks_by_batch_and_head(r: Recipe) -> bool:
    return (r.mask_density is not None and r.mask_broadcast == "full" and r.batch > 1
            and r.q_heads > 1)


FEATURES = (
    # (column, what it counts in a property's cover cases)
    ("Lk at tile edges", lambda rs: _edges(r.kv_len for r in rs)),
    ("Lq at tile edges", lambda rs: _edges(r.q_len for r in rs)),
    ("decode (Lq <= 2): longest Lk", lambda rs: str(max([r.kv_len for r in rs if r.q_len <= 2],
                                                       default="none"))),
    ("dtypes f16/bf16/f32/f64", lambda rs: "/".join(
        str(Counter(r.dtype for r in rs)[d]) for d in DTYPES)),
    ("mask by batch and head", lambda rs: str(sum(map(_masks_by_batch_and_head, rs)))),
    ("scale < 0", lambda rs: str(sum(1 for r in rs if r.scale is not None and r.scale < 0))),
    ("scale = 0", lambda rs: str(sum(1 for r in rs if r.scale == 0))),
    ("causal Lq </=/> Lk", lambda rs: "/".join(str(sum(1 for r in rs if r.causal and test(r)))
                                               for test in (lambda r: r.q_len < r.kv_len,
                                                            lambda r: r.q_len == r.kv_len,
                                                            lambda r: r.q_len > r.kv_len))),
    ("window", lambda rs: str(sum(1 for r in rs if r.window is not None))),
    ("ALiBi", lambda rs: str(sum(1 for r in rs if r.alibi is not None))),
    ("softcap", lambda rs: str(sum(1 for r in rs if r.softcap is not None))),
    ("GQA", lambda rs: str(sum(1 for r in rs if r.q_heads > r.kv_heads))),
    ("Dv != D", lambda rs: str(sum(1 for r in rs if r.value_dim != r.head_dim))),
)


def property_table(cases: dict[str, list[tuple[Cell, Recipe]]]) -> str:
    """One row per property: what its cover cases draw, feature by feature."""
    head = ["property", "cases"] + [name for name, _ in FEATURES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, drawn in cases.items():
        recipes = [r for _, r in drawn]
        lines.append("| " + " | ".join([name, str(len(recipes))]
                                       + [count(recipes) for _, count in FEATURES]) + " |")
    return "\n".join(lines)


def cell_table() -> str:
    """The cells, as attention/cover.py plans them (before a kernel's declaration fits them)."""
    lines = ["| cell | Lq | Lk | B | Hq | q heads per kv head (gqa) | D | Dv | pins |",
             "|---|---|---|---|---|---|---|---|---|"]
    for i, c in enumerate(COVER):
        lines.append(f"| {i} | {c.q_len} | {c.kv_len} | {c.batch} | {c.q_heads} | {c.group} | "
                     f"{c.head_dim} | {c.value_dim or c.head_dim} | {c.pins or 'none'} |")
    return "\n".join(lines)


def generated(effort: str = "ci") -> str:
    """The generated part of docs/coverage.md."""
    cases = cover_cases(effort)
    return "\n\n".join([
        f"The cells ({len(COVER)}; cell i draws the (i mod n)-th of the n declared dtypes):",
        cell_table(),
        f"What each property's cover cases draw at {effort} for {EVERY_FEATURE} (every "
        f"feature declared), after its own draw has fitted the cell to its claim:",
        property_table(cases),
    ])


def spliced(doc: str, table: str) -> str:
    """``doc`` with the text between the BEGIN and END markers replaced by ``table``."""
    before, rest = doc.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    return f"{before}{BEGIN}\n{table}\n{END}{after}"


def main(argv: list[str]) -> int:
    table = generated()
    if argv == ["--write"]:
        DOC.write_text(spliced(DOC.read_text(), table))
        print(f"wrote {DOC}")
    elif argv:
        print("usage: python -m attnspec.properties.attention.coverage [--write]", file=sys.stderr)
        return 2
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
