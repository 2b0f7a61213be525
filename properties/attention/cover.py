"""The cover: planned cases that every ci and thorough search of a property checks first.

Hypothesis's derandomized search starts from the simplest case and stays near it. Recorded on
a kernel declaring every feature, a ci run before the cover drew, in every property that
compares values (no_future_leak aside), no key length past 69 and no query length past 67,
decode rows to at most 69 keys, 2-4 of the 14 tile-edge key lengths, a negative scale in at
most one case in 40, and 19-33 of 40 cases in one dtype (1-4 in another). A kernel whose tail
tile goes wrong only past 128 keys passed (tests/zoo/buggy_kernels.py, "Past the short
path"). The cover fixes that by plan rather than by chance: the driver (engine/driver.py) runs one search of one example per cell before
the random search, and a search of one example checks hypothesis's simplest case, which for a
cell is its pins with every other field at its simplest (N(0, 1) values from seed 0, no other
option). docs/coverage.md lists what each property draws from it (attention/coverage.py
writes that table).

Each cell pins:
- the lengths: every tile edge t - 1, t, t + 1, 2t - 1, 2t + 1 of tiles of 16, 32, 64 and 128
  rows (15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 257) once as Lq and once as Lk,
  decode rows of 257, 383 and 511 keys, Lq < Lk, Lq > Lk and Lq = Lk;
- the batch and heads (one head unless the cell is about heads: B = 2 and two query heads
  where a mask must differ by both, GQA groups, ALiBi's per-head slopes);
- D and Dv (non-multiples of 8 too; Dv != D where the kernel allows it);
- a dtype slot: cell i takes the (i mod n)-th of the n declared dtypes, so each dtype gets
  len(COVER) / n cells (to within one);
- the options the cell is about, each only if the kernel declares it: causal (with Lq < Lk,
  Lq > Lk and Lq = Lk), masks that differ by batch and head, a head-broadcast and a shared
  mask, a window, ALiBi, softcap, a negative and a zero scale, and a transposed layout.
A property's own draw still has the last word (a metamorphic property turns causal off, the
causal-alignment property makes Lq != Lk): docs/coverage.md shows what survives per property.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from attnspec.kernels.spec import KernelSpec


@dataclass(frozen=True)
class Cell:
    """One planned case: q [B, Hq, Lq, D], k [B, Hq / group, Lk, D], v [.., Lk, Dv]."""

    q_len: int
    kv_len: int
    batch: int = 1
    q_heads: int = 1
    group: int = 1  # query heads per kv head where the kernel declares gqa
    head_dim: int = 64
    value_dim: int | None = None  # None: Dv = D
    layout: str = "contiguous"
    scale: float | None = None
    causal: bool = False
    mask: str | None = None  # the mask's shape ("full", "heads", "shared"); half the keys visible
    window: tuple[int | None, int | None] | None = None
    alibi: str | None = None
    softcap: float | None = None
    variant: float = 0.0  # the transform parameter of a metamorphic property (spread_variants)

    @property
    def pins(self) -> str:
        """What the cell pins besides its shape, e.g. "causal mask=full" ("" for none)."""
        parts = ["causal"] if self.causal else []
        parts += [f"{name}={getattr(self, name)}" for name in
                  ("mask", "window", "alibi", "softcap", "scale") if getattr(self, name) is not None]
        return " ".join(parts + ([self.layout] if self.layout != "contiguous" else []))

    @property
    def label(self) -> str:
        """A short name: the lengths and what the cell pins, e.g. "32x127 causal mask=full"."""
        return f"{self.q_len}x{self.kv_len} {self.pins}".rstrip()

    def __str__(self) -> str:
        return self.label


def spread_variants(cells: tuple[Cell, ...]) -> tuple[Cell, ...]:
    """The cells with variants (i + 1/2) / n: a metamorphic property's transform (which split,
    which option, which power of two) differs from cell to cell instead of staying at its
    simplest, 0."""
    return tuple(replace(c, variant=(i + 0.5) / len(cells)) for i, c in enumerate(cells))


COVER = spread_variants((
    # decode rows: one query row (or two, as speculative decoding has) over hundreds of keys
    Cell(1, 257, head_dim=128),
    Cell(1, 511, q_heads=2, group=2, alibi="canonical"),
    Cell(2, 383, head_dim=72, causal=True),
    # every tile edge once as Lq and once as Lk, a long side with a short one (a few thousand
    # scores per head: the oracle's and the budgets' cost grows with Lq Lk): Lq < Lk ...
    Cell(15, 257, head_dim=40, causal=True),
    Cell(16, 255, mask="full"),
    Cell(17, 129, head_dim=24, window=(16, 0)),
    Cell(31, 128, head_dim=80, value_dim=40, scale=-0.7),
    Cell(32, 127, batch=2, q_heads=2, causal=True, mask="full"),  # differs by batch and head
    Cell(33, 65, head_dim=16, scale=0.0),
    Cell(63, 64, head_dim=96, softcap=5.0),
    # ... and Lq > Lk
    Cell(64, 63, causal=True),  # bottom-right: the first row sees no key
    Cell(65, 33, batch=2, mask="heads", scale=-0.7),  # one mask per batch, shared by heads
    Cell(127, 32, q_heads=2, group=2, alibi="random", causal=True),
    Cell(128, 31, q_heads=2, group=2, value_dim=16, layout="transposed"),
    Cell(129, 17, head_dim=40, window=(7, 7)),
    Cell(255, 16, causal=True),
    Cell(257, 15, mask="shared"),
    # square prefill, causal: the diagonal tile is the last one, full and one row past
    Cell(64, 64, head_dim=128, causal=True),
    Cell(129, 129, head_dim=72, causal=True),
))

TILE_EDGES_COVERED = (15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 257)


def fitted_head_dim(spec: KernelSpec, d: int) -> int:
    """``d``, or the nearest head dim below it that the kernel supports (else its smallest)."""
    m = spec.head_dim_multiple
    cap = d if spec.max_head_dim is None else min(d, spec.max_head_dim)
    return max(m, cap - cap % m)


def cell_dtype(spec: KernelSpec, index: int) -> str:
    """The dtype of the ``index``-th cell: the declared dtypes in turn."""
    return spec.dtypes[index % len(spec.dtypes)]


def compiled_shape(spec: KernelSpec, max_head_dim: int) -> dict:
    """B, Hq, Hk, D, Dv of every case drawn for a kernel that compiles per shape: B = 2, Hq =
    2 (one kv head under gqa), D = Dv = the largest head dim it supports up to 64."""
    d = fitted_head_dim(spec, min(64, max_head_dim))
    return dict(batch=2, q_heads=2, kv_heads=1 if spec.gqa else 2, head_dim=d, value_dim=d)


def cell_shape(cell: Cell, spec: KernelSpec, max_head_dim: int) -> dict:
    """B, Hq, Hk, Lq, Lk, D, Dv of ``cell`` as the kernel can take them: one kv head per query
    head without gqa, D and Dv fitted to its head dims, Dv = D where it declares that; for a
    kernel that compiles per shape, only the lengths (compiled_shape: ``max_head_dim`` is the
    plan's)."""
    if spec.compiled_per_shape:
        return dict(compiled_shape(spec, max_head_dim), q_len=cell.q_len, kv_len=cell.kv_len)
    d = fitted_head_dim(spec, cell.head_dim)
    dv = d if spec.dv_equals_d or cell.value_dim is None else fitted_head_dim(spec, cell.value_dim)
    group = cell.group if spec.gqa else 1
    return dict(batch=cell.batch, q_heads=cell.q_heads, kv_heads=cell.q_heads // group,
                q_len=cell.q_len, kv_len=cell.kv_len, head_dim=d, value_dim=dv)


def cell_options(cell: Cell, spec: KernelSpec) -> dict:
    """The recipe fields of the options ``cell`` pins that the kernel declares, its layout
    (contiguous for a kernel that compiles per shape: new strides recompile it too) and its
    variant."""
    out: dict = {"layout": "contiguous" if spec.compiled_per_shape else cell.layout,
                 "variant": cell.variant}
    if spec.scale and cell.scale is not None:
        out["scale"] = cell.scale
    if spec.causal and cell.causal:
        out["causal"] = True
    if spec.mask and cell.mask is not None:
        out.update(mask_density=0.5, mask_broadcast=cell.mask, empty_rows=0)
    if spec.window and cell.window is not None:
        out["window"] = cell.window
    if spec.alibi and cell.alibi is not None:
        out["alibi"] = cell.alibi
    if spec.softcap and cell.softcap is not None:
        out["softcap"] = cell.softcap
    return out
