"""The standard shapes of ``attnspec bench``: the head layouts of real models, in prefill and
decode rows, at lengths scaled to the device.

A head layout is a model configuration's attention: query heads, key/value heads and head
dimension, as the model's published configuration gives them (num_attention_heads,
num_key_value_heads, head_dim). Each row runs one layout in one phase:

    prefill   B = 1, Lq = Lk = L, causal: a prompt of L tokens
    decode    B = 4, Lq = 1 against a cache of Lk keys, no mask: one generated token per
              sequence of a batch of 4

and the option rows run one keyword option of the contract each, on the layout of a model
that uses it, as a prefill of the shortest length (``OPTION_ROWS``).

"Lengths up to what the device holds" is decided per device (``lengths_for``):

    cpu    a stated cap, not memory: prefill lengths up to 512 and decode caches up to 2048,
           so that a whole run stays at a few minutes on 2 cores (docs/bench.md measures it);
    cuda   the ladders below up to 128k tokens (Llama-3.1's context); a row whose q, k, v and
           output do not fit in a quarter of the free device memory is skipped with that reason
           (``memory_reason``), and a kernel that runs out of memory on a row is skipped there.

``--max-len N`` (``attnspec bench``) or ``--attnspec-bench-max-len N`` (pytest) caps both
ladders at N on any device; when no ladder length is <= N, the one length is N itself (tiny
shapes for quick runs and tests).
"""

from __future__ import annotations

from dataclasses import dataclass

# Lengths grow 4x per step, from a short prompt (or cache) to 128k tokens.
PREFILL_LADDER = (512, 2048, 8192, 32768, 131072)
DECODE_LADDER = (2048, 8192, 32768, 131072)
# The CPU caps: time, not memory, limits a CPU run (module docstring).
CPU_CAPS = {"prefill": 512, "decode": 2048}
DECODE_BATCH = 4
# Of the free CUDA memory, the share that a row's q, k, v and output may take: the rest is left
# for the kernel's and the baseline's own workspace.
CUDA_MEMORY_SHARE = 0.25


@dataclass(frozen=True)
class HeadLayout:
    """The attention of one model configuration: Hq query heads, Hk key/value heads, head dim D."""

    model: str
    q_heads: int
    kv_heads: int
    head_dim: int

    @property
    def kind(self) -> str:
        if self.kv_heads == self.q_heads:
            return "MHA"
        return "MQA" if self.kv_heads == 1 else f"GQA {self.q_heads // self.kv_heads}:1"


# Each from the model's published configuration (heads, kv heads, head dim).
LLAMA3_8B = HeadLayout("llama3-8b", 32, 8, 128)  # also Mistral-7B's heads
LLAMA2_7B = HeadLayout("llama2-7b", 32, 32, 128)
LLAMA3_70B = HeadLayout("llama3-70b", 64, 8, 128)
FALCON_7B = HeadLayout("falcon-7b", 71, 1, 64)  # multi-query: one kv head for 71 query heads
PHI2 = HeadLayout("phi-2", 32, 32, 80)  # D = 80: not a multiple of 32, 64 or 128
GEMMA_7B = HeadLayout("gemma-7b", 16, 16, 256)  # D = 256
MISTRAL_7B = HeadLayout("mistral-7b", 32, 8, 128)  # sliding window of 4096 keys
MPT_7B = HeadLayout("mpt-7b", 32, 32, 128)  # ALiBi
GEMMA2_9B = HeadLayout("gemma2-9b", 16, 8, 256)  # attention logits soft-capped at 50

# The layouts run at every length of a ladder, and those run at one length of it.
EVERY_LENGTH = (LLAMA3_8B, LLAMA2_7B)
SHORTEST_PREFILL = (PHI2, GEMMA_7B)  # head dims other than 128, on the shortest prompt
LONGEST_DECODE = (LLAMA3_70B, FALCON_7B)  # wide GQA and MQA, on the longest cache

# One row per keyword option of the contract: (option, layout, batch). The option's values
# (window width, softcap, padding) are set from the row's length in cases.py.
OPTION_ROWS = (
    ("plain", LLAMA3_8B, 1),  # no option at all: a non-causal (encoder-style) prefill
    ("window", MISTRAL_7B, 1),
    ("alibi", MPT_7B, 1),
    ("softcap", GEMMA2_9B, 1),
    ("mask", LLAMA3_8B, DECODE_BATCH),  # key padding of a batch of prompts of unequal lengths
    ("lse", LLAMA3_8B, 1),  # return_lse=True, as split-KV and ring attention need
)


@dataclass(frozen=True)
class Shape:
    """One row: a head layout in one phase. q [B, Hq, Lq, D], k and v [B, Hk, Lk, D]."""

    layout: HeadLayout
    phase: str  # "prefill" or "decode"
    batch: int
    q_len: int
    kv_len: int
    option: str  # "causal" for a model's prefill, "plain" for decode, else the option row's
    row: str = "model"  # "model" (run in every declared dtype) or "option" (in one)

    @property
    def id(self) -> str:
        length = f"L{self.kv_len}"
        return f"{self.layout.model}/{self.phase}/B{self.batch}/{length}/{self.option}"

    def io_bytes(self, element_bytes: int) -> int:
        """Bytes of q, k, v and out: [B, Hq, Lq, D] twice and [B, Hk, Lk, D] twice."""
        d = self.layout.head_dim
        q = self.batch * self.layout.q_heads * self.q_len * d
        kv = self.batch * self.layout.kv_heads * self.kv_len * d
        return (2 * q + 2 * kv) * element_bytes


def lengths_for(ladder: tuple[int, ...], cap: int) -> tuple[int, ...]:
    """The ladder's lengths up to ``cap``; the cap alone when it is below them all."""
    kept = tuple(n for n in ladder if n <= cap)
    return kept or (cap,)


def caps_for(device: str, max_len: int | None) -> dict[str, int]:
    """The longest prefill and decode cache benchmarked on ``device`` (module docstring)."""
    if max_len is not None:
        return {"prefill": max_len, "decode": max_len}
    if device == "cpu":
        return dict(CPU_CAPS)
    return {"prefill": PREFILL_LADDER[-1], "decode": DECODE_LADDER[-1]}


def standard_shapes(device: str, max_len: int | None = None) -> list[Shape]:
    """Every row of the standard set on ``device``: model prefill and decode rows, then the
    option rows."""
    caps = caps_for(device, max_len)
    prefill = lengths_for(PREFILL_LADDER, caps["prefill"])
    decode = lengths_for(DECODE_LADDER, caps["decode"])
    shapes = []
    for n in prefill:
        for layout in EVERY_LENGTH + (SHORTEST_PREFILL if n == prefill[0] else ()):
            shapes.append(Shape(layout, "prefill", 1, n, n, "causal"))
    for n in decode:
        for layout in EVERY_LENGTH + (LONGEST_DECODE if n == decode[-1] else ()):
            shapes.append(Shape(layout, "decode", DECODE_BATCH, 1, n, "plain"))
    for option, layout, batch in OPTION_ROWS:
        shapes.append(Shape(layout, "prefill", batch, prefill[0], prefill[0], option, "option"))
    return shapes


def memory_reason(shape: Shape, element_bytes: int, free_bytes: int | None) -> str | None:
    """Why ``shape`` is not run on a device with ``free_bytes`` free (None: no limit), or None."""
    if free_bytes is None:
        return None
    need = shape.io_bytes(element_bytes)
    room = CUDA_MEMORY_SHARE * free_bytes
    if need <= room:
        return None
    return (f"q, k, v and out take {need / 2**30:.1f} GiB, over {CUDA_MEMORY_SHARE:.0%} of the "
            f"{free_bytes / 2**30:.1f} GiB of free device memory")
