"""A test case as a recipe: a few plain fields that rebuild the same tensors anywhere.

Hypothesis draws and shrinks recipes; :mod:`attnspec.properties.attention.cases` turns one into tensors
deterministically (numpy Generator seeded by ``seed``), and a violation report prints the recipe
as JSON so that ``attnspec reproduce SELECTOR --case '<json>'`` rebuilds the exact input.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Recipe:
    # Shapes: q [B, Hq, Lq, D], k [B, Hk, Lk, D], v [B, Hk, Lk, Dv]
    batch: int = 1
    q_heads: int = 1
    kv_heads: int = 1
    q_len: int = 4
    kv_len: int = 4
    head_dim: int = 8
    value_dim: int = 8
    dtype: str = "float32"
    seed: int = 0

    # Long random contexts (the "long" profile): "normal" keys, "sphere" (unit keys uniform on
    # S^(D-1), identity values v = k, scores beta <q_hat, k>), "progression" (scores
    # 8 - beta j in key order, reversed when variant >= 0.5; values (1, j / Lk), zero padded),
    # or "sink" (one key at score 0 at position variant * Lk, every other key near -beta, so
    # that a long tail of tiny weights carries a large share of the mass).
    keys: str = "normal"
    beta: float = 1.0

    # Value regimes (how kernels break)
    logit_scale: float = 1.0  # multiplies q: scores reach ~logit_scale * |q||k| / sqrt(D)
    row_spread: float = 0.0  # query rows scaled by 10^U(-row_spread, row_spread)
    near_ties: bool = False  # keys equal up to the last bits of the dtype
    duplicate_keys: int = 0  # number of keys copied from another key (same k, other v)
    value_offset: float = 0.0  # added to v: all-same-sign values, large |o| vs spread
    score_shift: float = 0.0  # added to every score (through the last feature of q and k)

    # Options (only those the kernel declares are ever set)
    scale: float | None = None
    causal: bool = False
    alibi: str | None = None  # None, "canonical" or "random"
    mask_density: float | None = None  # fraction of visible keys; None means no mask
    mask_broadcast: str = "full"  # mask shape: "full" [B,Hq,Lq,Lk], "heads" [B,1,Lq,Lk],
    #                               "shared" [Lq, Lk]
    empty_rows: int = 0  # query rows whose mask hides every key
    sentinel_trap: bool = False  # hidden keys carry the largest logits
    window: tuple[int | None, int | None] | None = None
    softcap: float | None = None
    return_lse: bool = False
    variant: float = 0.0  # in [0, 1): the transform parameter of a metamorphic property

    # Gradients (the backward properties): the incoming dO, in q's dtype, drawn from N(0, 1)
    # with both signs ("normal") or with each row made orthogonal to that row of the output
    # ("orthogonal": D_i = <dO_i, O_i> ~ 0, where computing it cancels most), and its layout;
    # with return_lse, dlse ~ N(0, 1) as well.
    grad_out: str = "normal"
    grad_layout: str = "contiguous"

    # Memory layout of the tensors handed to the kernel
    layout: str = "contiguous"  # "contiguous", "transposed" (a [B, L, H, D] buffer
    #                             permuted), "offset" (a slice with a storage offset)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "Recipe":
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown recipe field(s): {', '.join(sorted(unknown))}")
        if data.get("window") is not None:
            data["window"] = tuple(data["window"])
        return cls(**data)

    def describe(self) -> str:
        """One line: shapes, dtype and the options and regimes in play."""
        parts = [
            f"q[{self.batch},{self.q_heads},{self.q_len},{self.head_dim}]",
            f"k[{self.batch},{self.kv_heads},{self.kv_len},{self.head_dim}]",
            f"v[..,{self.value_dim}]",
            self.dtype,
        ]
        default = Recipe()
        for f in fields(self):
            if f.name in ("batch", "q_heads", "kv_heads", "q_len", "kv_len", "head_dim",
                          "value_dim", "dtype", "seed"):
                continue
            value = getattr(self, f.name)
            if value != getattr(default, f.name):
                parts.append(f"{f.name}={value}")
        return " ".join(parts)
