"""FlexAttention (torch.nn.attention.flex_attention) under the kernel contract.

Every contract feature maps onto Flex's own primitives: scale and GQA are keywords; softcap and
ALiBi are a score_mod (softcap before the bias, as the contract orders them); causal (bottom
right), window and the boolean mask are a mask_mod turned into a block mask; return_lse is
Flex's own LSE (natural log). ``compiled=True`` runs it through torch.compile.
"""

from __future__ import annotations

import torch
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

from ..spec import KernelSpec


def make_flex_kernel(spec: KernelSpec, compiled: bool = False):
    run = torch.compile(flex_attention, dynamic=False) if compiled else flex_attention

    def flex(
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
        B, Hq, Lq, _ = q.shape
        Lk = k.shape[2]
        offset = Lk - Lq

        def score_mod(score, b, h, q_idx, kv_idx):
            if softcap is not None:
                score = softcap * torch.tanh(score / softcap)
            if alibi_slopes is not None:  # in the score's dtype: a float32 slope times the
                #                               distance would round the bias to float32
                slope = alibi_slopes[h].to(score.dtype)
                score = score - slope * (q_idx + offset - kv_idx).abs()
            return score

        block_mask = None
        if causal or window is not None or mask is not None:
            full = None if mask is None else mask.expand(B, Hq, Lq, Lk)

            def mask_mod(b, h, q_idx, kv_idx):
                keep = kv_idx >= 0
                if causal:
                    keep = keep & (kv_idx <= q_idx + offset)
                if window is not None:
                    left, right = window
                    if left is not None:
                        keep = keep & (kv_idx >= q_idx + offset - left)
                    if right is not None:
                        keep = keep & (kv_idx <= q_idx + offset + right)
                if full is not None:
                    keep = keep & full[b, h, q_idx, kv_idx]
                return keep

            block_mask = create_block_mask(mask_mod, B, Hq, Lq, Lk, device=q.device)
        needs_mod = softcap is not None or alibi_slopes is not None
        result = run(
            q, k, v,
            score_mod=score_mod if needs_mod else None,
            block_mask=block_mask,
            scale=scale,
            enable_gqa=Hq != k.shape[1],
            return_lse=return_lse,
        )
        return result

    flex.__name__ = flex.__qualname__ = "flex_attention_compiled" if compiled else "flex_attention"
    return spec(flex)
