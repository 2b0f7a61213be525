"""PyTorch scaled_dot_product_attention, per backend, under the kernel contract.

SDPA's own keywords are attn_mask (bool, True = attend, or an additive float bias), is_causal
(top-left aligned), scale and enable_gqa. The adapter passes is_causal through when it is the
only positional rule, and otherwise folds causal, window, mask and ALiBi into one attn_mask:
a bool mask when only visibility is involved, an additive float mask (-inf where hidden) when
ALiBi adds a bias. SDPA has no LSE output and no softcap, so those are not declared.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from attnspec.kernels.attention.contract import alibi_bias, visible_keys
from attnspec.kernels.spec import KernelSpec

BACKENDS = {
    "math": SDPBackend.MATH,
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
}


def make_sdpa_kernel(backend: str | None, spec: KernelSpec):
    """SDPA restricted to ``backend`` (None: PyTorch's own dispatch), declaring ``spec``."""
    chosen = None if backend is None else BACKENDS[backend]

    def sdpa_attention(
        q,  # [B, Hq, Lq, D]
        k,  # [B, Hk, Lk, D]
        v,  # [B, Hk, Lk, Dv]
        *,
        scale=None,
        causal=False,
        alibi_slopes=None,
        mask=None,
        window=None,
    ):
        Lq, Lk = q.shape[2], k.shape[2]
        kwargs = dict(scale=scale, enable_gqa=q.shape[1] != k.shape[1])
        if causal and mask is None and window is None and alibi_slopes is None:
            kwargs["is_causal"] = True
        else:
            visible = visible_keys(
                Lq, Lk, causal=causal, alignment="top_left", window=window, mask=mask,
                device=q.device,
            )
            if alibi_slopes is not None:
                # The bias in float32 at least (SDPA accepts a float32 mask for half inputs):
                # rounding -slope * distance to fp16 would cost u_fp16 |bias| per score.
                acc = torch.promote_types(q.dtype, torch.float32)
                bias = alibi_bias(alibi_slopes, Lq, Lk, acc, q.device)[None]  # [1, Hq, Lq, Lk]
                if visible is not None:
                    bias = bias.masked_fill(~visible, float("-inf"))
                kwargs["attn_mask"] = bias
            elif visible is not None:
                kwargs["attn_mask"] = visible
        if chosen is None:
            return F.scaled_dot_product_attention(q, k, v, **kwargs)
        with sdpa_kernel(chosen):
            return F.scaled_dot_product_attention(q, k, v, **kwargs)

    name = "sdpa" if backend is None else f"sdpa_{backend}"
    sdpa_attention.__name__ = sdpa_attention.__qualname__ = name
    return spec(sdpa_attention)
