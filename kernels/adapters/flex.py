"""FlexAttention (torch.nn.attention.flex_attention) under the kernel contract.

Every contract feature maps onto Flex's own primitives: scale and GQA are keywords; softcap and
ALiBi are a score_mod (softcap before the bias, as the contract orders them); causal (bottom
right), window and the boolean mask are a mask_mod turned into a block mask; return_lse is
Flex's own LSE (natural log), asked for the current way (``return_aux=AuxRequest(lse=True)``;
torch releases before AuxRequest have only ``return_lse``). ``compiled=True`` runs it through
torch.compile.
"""

from __future__ import annotations

import torch
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

try:  # the current way to ask Flex for its LSE (return_lse is deprecated where this exists)
    from torch.nn.attention.flex_attention import AuxRequest
except ImportError:  # older torch: return_lse is the only way
    AuxRequest = None

from attnspec.kernels.spec import KernelSpec


# torch.compile falls back to eager, with only a log line, once a function has been compiled for
# more variants than dynamo's recompile limit (8). A check draws many head dims, scales and
# option sets; without a higher limit its verdict on "flex-compiled" would describe eager code.
RECOMPILE_LIMIT = 100_000


def make_flex_kernel(spec: KernelSpec, compiled: bool = False):
    run = flex_attention
    if compiled:
        # Bound as ``dynamo``: a plain ``import torch._dynamo`` here would make ``torch`` a local
        # of this function, unbound when compiled=False, and break every closure below.
        import torch._dynamo as dynamo

        for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit",
                     "accumulated_cache_size_limit"):
            if hasattr(dynamo.config, name):
                setattr(dynamo.config, name, max(getattr(dynamo.config, name), RECOMPILE_LIMIT))
        # dynamic=True: one compilation serves all lengths (a recompile per shape costs ~3 s
        # on CPU). With dynamic shapes, a score_mod that closes over a Python float fails in
        # inductor (torch 2.13, InductorError); a 0-d tensor works, so softcap is captured as one.
        run = torch.compile(flex_attention, dynamic=True)

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

        cap = None
        if softcap is not None:
            cap = torch.tensor(softcap, dtype=torch.promote_types(q.dtype, torch.float32),
                               device=q.device) if compiled else softcap

        # Flex computes scores in float64 for float64 inputs and float32 otherwise, and the
        # bias must be formed in that precision. Not ``.to(score.dtype)`` inside score_mod:
        # Flex traces score_mod with a score of the *input* dtype, so that cast would round
        # every fp16/bf16 bias to half precision (docs/findings.md).
        working = torch.float64 if q.dtype == torch.float64 else torch.float32
        slopes = None if alibi_slopes is None else alibi_slopes.to(working)

        def score_mod(score, b, h, q_idx, kv_idx):
            if cap is not None:
                score = cap * torch.tanh(score / cap)
            if slopes is not None:
                score = score - slopes[h] * (q_idx + offset - kv_idx).abs()
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
        if return_lse and AuxRequest is not None:
            lse_request = {"return_aux": AuxRequest(lse=True)}
        else:
            lse_request = {"return_lse": return_lse}
        result = run(
            q, k, v,
            score_mod=score_mod if needs_mod else None,
            block_mask=block_mask,
            scale=scale,
            enable_gqa=Hq != k.shape[1],
            **lse_request,
        )
        if return_lse and AuxRequest is not None:
            out, aux = result
            return out, aux.lse
        return result

    flex.__name__ = flex.__qualname__ = "flex_attention_compiled" if compiled else "flex_attention"
    return spec(flex)
