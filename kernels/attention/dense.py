"""Dense reference attention: the whole score matrix at once, in a chosen accumulation dtype.

Claim (elementary, docs/kernel-contract.md): out = softmax(S) V over visible keys, lse = logsumexp(S),
S = scale q k^T (softcapped, plus ALiBi). Computed with the max subtracted per row, in
``accumulation`` (or the input dtype when wider), then rounded once to the input dtype.
Rows with no visible key give out = 0 and lse = -inf.

Memory O(B Hq Lq Lk); runs on whatever device q lives on.
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


def make_dense_kernel(
    accumulation: torch.dtype = torch.float32, alignment: str = "bottom_right"
):
    """A dense kernel accumulating in ``accumulation``, causal under ``alignment``."""
    acc_name = str(accumulation).removeprefix("torch.")

    def dense_attention(
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
        acc = accumulation_dtype(q.dtype, accumulation)
        Hq, Lq, Lk = q.shape[1], q.shape[2], k.shape[2]
        qa = q.to(acc)
        ka = expand_kv_heads(k, Hq).to(acc)
        va = expand_kv_heads(v, Hq).to(acc)

        s = (qa @ ka.transpose(-1, -2)) * resolve_scale(scale, q.shape[-1])  # [B, Hq, Lq, Lk]
        if softcap is not None:
            s = softcap * torch.tanh(s / softcap)
        if alibi_slopes is not None:
            s = s + alibi_bias(alibi_slopes, Lq, Lk, acc, q.device)
        visible = visible_keys(
            Lq, Lk, causal=causal, alignment=alignment, window=window, mask=mask,
            device=q.device,
        )
        if visible is not None:
            s = s.masked_fill(~visible, float("-inf"))

        row_max = s.amax(dim=-1, keepdim=True)  # [B, Hq, Lq, 1]; -inf on empty rows
        row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
        p = torch.exp(s - row_max)  # exactly 0 where masked
        total = p.sum(dim=-1, keepdim=True)
        # Empty rows divide by 1, not 0, and take their 0 and -inf from torch.where: 0/0 or
        # log 0 anywhere in the graph would make their gradients NaN (inf * 0 in backward).
        nonempty = total > 0
        safe_total = torch.where(nonempty, total, torch.ones_like(total))
        out = torch.where(nonempty, (p @ va) / safe_total, torch.zeros_like(total))
        out = out.to(q.dtype)
        if not return_lse:
            return out
        lse = torch.where(nonempty, row_max + torch.log(safe_total),
                          torch.full_like(total, float("-inf"))).squeeze(-1)
        return out, lse

    dense_attention.__name__ = f"dense_attention_{acc_name}_{alignment}"
    dense_attention.__qualname__ = dense_attention.__name__
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
        backward=True,  # torch autograd through the operations above
        empty_rows="zero",
        accumulation=acc_name,
        rounds_p=False,
    )(dense_attention)
    return dense_attention


dense_attention = make_dense_kernel()
