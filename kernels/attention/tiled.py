"""Tiled online-softmax attention (FlashAttention's algorithm) returning the LSE.

Claim (elementary; Milakov and Gimelshein 2018, Dao et al. 2022): processing keys in tiles with
a running maximum m, running normaliser l and running output acc, each rescaled by
exp(m_old - m_new) when the maximum grows, gives exactly softmax(S) V and
lse = m + log l in exact arithmetic.

With ``rounds_p=True`` the tile's P is rounded to the input dtype before P @ V while l sums
the unrounded P, as FlashAttention-2 does on tensor cores: a correct kernel whose error the
budget must admit. The accumulators stay in ``accumulation`` (or the input dtype when wider).
"""

from __future__ import annotations

import torch

from attnspec.kernels.attention.contract import (
    accumulation_dtype,
    alibi_bias,
    check_qkv,
    expand_kv_heads,
    resolve_scale,
    visible_keys,
)
from attnspec.kernels.spec import KernelSpec


def make_tiled_kernel(
    block_k: int = 64,
    accumulation: torch.dtype = torch.float32,
    alignment: str = "bottom_right",
    rounds_p: bool = False,
):
    """A tiled online-softmax kernel over key tiles of ``block_k``."""
    if block_k < 1:
        raise ValueError(f"block_k must be positive, got {block_k}")
    acc_name = str(accumulation).removeprefix("torch.")

    def tiled_attention(
        q,  # [B, Hq, Lq, D]
        k,  # [B, Hk, Lk, D]
        v,  # [B, Hk, Lk, Dv]
        *,
        scale=None,
        causal=False,
        alibi_slopes=None,
        mask=None,
        window=None,
        softcap=None,
        return_lse=False,
    ):
        check_qkv(q, k, v)
        acc_dtype = accumulation_dtype(q.dtype, accumulation)
        B, Hq, Lq, _ = q.shape
        Lk, Dv = k.shape[2], v.shape[3]
        sm_scale = resolve_scale(scale, q.shape[-1])
        qa = q.to(acc_dtype)
        ka = expand_kv_heads(k, Hq)
        va = expand_kv_heads(v, Hq)

        row_max = torch.full((B, Hq, Lq, 1), float("-inf"), dtype=acc_dtype, device=q.device)
        total = torch.zeros((B, Hq, Lq, 1), dtype=acc_dtype, device=q.device)
        acc = torch.zeros((B, Hq, Lq, Dv), dtype=acc_dtype, device=q.device)
        for start in range(0, Lk, block_k):
            keys = slice(start, min(start + block_k, Lk))
            s = (qa @ ka[:, :, keys].to(acc_dtype).transpose(-1, -2)) * sm_scale
            if softcap is not None:
                s = softcap * torch.tanh(s / softcap)
            if alibi_slopes is not None:
                s = s + alibi_bias(alibi_slopes, Lq, Lk, acc_dtype, q.device, keys)
            visible = visible_keys(
                Lq, Lk, causal=causal, alignment=alignment, window=window, mask=mask,
                device=q.device, keys=keys,
            )
            if visible is not None:
                s = s.masked_fill(~visible, float("-inf"))
            new_max = torch.maximum(row_max, s.amax(dim=-1, keepdim=True))
            # Rows with nothing visible yet keep max -inf; shift them by 0 so that
            # exp(-inf - 0) = 0 instead of exp(-inf + inf) = nan.
            shift = torch.where(torch.isfinite(new_max), new_max, torch.zeros_like(new_max))
            rescale = torch.exp(row_max - shift)
            p = torch.exp(s - shift)
            total = total * rescale + p.sum(dim=-1, keepdim=True)
            p_v = p.to(q.dtype).to(acc_dtype) if rounds_p else p
            acc = acc * rescale + p_v @ va[:, :, keys].to(acc_dtype)
            row_max = new_max

        # Empty rows divide by 1 and take 0 and -inf from torch.where, so that no 0/0 or log 0
        # enters the autograd graph (their gradients would be NaN).
        nonempty = total > 0
        safe_total = torch.where(nonempty, total, torch.ones_like(total))
        out = torch.where(nonempty, acc / safe_total, torch.zeros_like(acc)).to(q.dtype)
        if not return_lse:
            return out
        lse = torch.where(nonempty, row_max + torch.log(safe_total),
                          torch.full_like(total, float("-inf"))).squeeze(-1)
        return out, lse

    name = f"tiled_attention_b{block_k}_{acc_name}_{alignment}" + ("_roundp" if rounds_p else "")
    tiled_attention.__name__ = tiled_attention.__qualname__ = name
    KernelSpec(
        dtypes=("float16", "bfloat16", "float32", "float64"),
        devices=("cpu", "cuda"),
        causal=alignment,
        alibi=True,
        mask=True,
        gqa=True,
        window=True,
        softcap=True,
        lse=True,
        # torch autograd through the tile loop, without P rounding only: with it, autograd
        # rounds the gradient of each tile's P to the input dtype, and the gradient through
        # the running maximum, zero in exact arithmetic, keeps a residual of that rounding on
        # each tile's argmax key (1.3x the gradient budget seen in float16; docs/findings.md).
        # The FlashAttention-2 backward of this kernel is flash_backward.py's.
        backward=not rounds_p,
        empty_rows="zero",
        accumulation=acc_name,
        rounds_p=rounds_p,
    )(tiled_attention)
    return tiled_attention


tiled_attention = make_tiled_kernel()
