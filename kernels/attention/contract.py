"""The kernel contract's masks, biases and shapes, in torch, shared by the reference kernels.

Claim (elementary, docs/kernel-contract.md): key j is visible to query i iff the mask, causal
(top_left j <= i; bottom_right j <= i + Lk - Lq) and window (i + Lk - Lq - left <= j <=
i + Lk - Lq + right) all allow it; ALiBi adds -slope_h * |i + Lk - Lq - j|.

The oracles implement these rules separately (oracles/attention/visibility.py, oracles/attention/certified.py):
nothing here is imported by them, so a bug here cannot hide from them.
"""

from __future__ import annotations

import math

import torch


def check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """Raise ValueError unless q [B, Hq, Lq, D], k [B, Hk, Lk, D], v [B, Hk, Lk, Dv] agree."""
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(f"expected 4-d q, k, v, got {q.shape}, {k.shape}, {v.shape}")
    B, Hq, _, D = q.shape
    if k.shape[0] != B or v.shape[0] != B or k.shape[3] != D:
        raise ValueError(f"q {tuple(q.shape)} and k {tuple(k.shape)} disagree")
    if v.shape[:3] != k.shape[:3]:
        raise ValueError(f"k {tuple(k.shape)} and v {tuple(v.shape)} disagree")
    if Hq % k.shape[1] != 0:
        raise ValueError(f"Hq={Hq} is not a multiple of Hk={k.shape[1]}")
    if not (q.dtype == k.dtype == v.dtype):
        raise ValueError(f"q, k, v dtypes differ: {q.dtype}, {k.dtype}, {v.dtype}")


def resolve_scale(scale: float | None, head_dim: int) -> float:
    """The softmax scale as a Python float: 1/sqrt(D) when None."""
    return 1.0 / math.sqrt(head_dim) if scale is None else float(scale)


def expand_kv_heads(x: torch.Tensor, q_heads: int) -> torch.Tensor:
    """[B, Hk, L, D] -> [B, Hq, L, D]: query head h reads kv head h // (Hq / Hk)."""
    group = q_heads // x.shape[1]
    return x if group == 1 else x.repeat_interleave(group, dim=1)


def visible_keys(
    q_len: int,
    kv_len: int,
    *,
    causal: bool,
    alignment: str,
    window: tuple[int | None, int | None] | None,
    mask: torch.Tensor | None,
    device: torch.device,
    keys: slice = slice(None),
) -> torch.Tensor | None:
    """bool, broadcastable to [B, Hq, Lq, len(keys)], True = may attend; None when all are.

    ``keys`` selects a tile of key columns (default all of them).
    """
    rows = torch.arange(q_len, device=device)[:, None]
    cols = torch.arange(kv_len, device=device)[keys][None, :]
    offset = kv_len - q_len
    visible = None

    def both(a, b):
        return b if a is None else a & b

    if causal:
        if alignment == "top_left":
            visible = both(visible, cols <= rows)
        elif alignment == "bottom_right":
            visible = both(visible, cols <= rows + offset)
        else:
            raise ValueError(f"unknown causal alignment {alignment!r}")
    if window is not None:
        left, right = window
        if left is not None:
            visible = both(visible, cols >= rows + offset - left)
        if right is not None:
            visible = both(visible, cols <= rows + offset + right)
    if mask is not None:
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be bool (True = may attend), got {mask.dtype}")
        visible = both(visible, mask.to(device)[..., keys])
    return visible


def alibi_bias(
    slopes: torch.Tensor,
    q_len: int,
    kv_len: int,
    dtype: torch.dtype,
    device: torch.device,
    keys: slice = slice(None),
) -> torch.Tensor:
    """[Hq, Lq, len(keys)]: -slope_h * |i + (Lk - Lq) - j|, in ``dtype``."""
    rows = torch.arange(q_len, device=device)[:, None]
    cols = torch.arange(kv_len, device=device)[keys][None, :]
    distance = (rows + (kv_len - q_len) - cols).abs().to(dtype)
    return -slopes.to(device=device, dtype=dtype)[:, None, None] * distance


def accumulation_dtype(input_dtype: torch.dtype, requested: torch.dtype) -> torch.dtype:
    """The wider of the input dtype and the requested accumulation dtype."""
    return torch.promote_types(input_dtype, requested)
