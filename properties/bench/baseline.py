"""The baseline of every bench case: torch's scaled_dot_product_attention with its default
backend choice, on the same device, dtype, shape and inputs as the kernel under test.

SDPA's keywords are prepared once per case, outside the timed call, as a user of SDPA would
hold them: ``is_causal`` for the causal prefill (Lq = Lk: top-left and bottom-right alignments
see the same keys), a bool ``attn_mask`` for the window and the padding mask, an additive
``attn_mask`` in q's dtype for ALiBi, and ``enable_gqa`` when Hq != Hk. SDPA has no softcap and
no LSE output: on those rows the baseline computes plain attention (``NOTES``), so their ratio
includes what the option costs the kernel.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from attnspec.kernels.attention.contract import alibi_bias, visible_keys
from attnspec.properties.bench.cases import CaseInputs

DESCRIPTION = "torch.nn.functional.scaled_dot_product_attention, default backend"
NOTES = {"softcap": "SDPA has no softcap: the baseline is plain attention",
         "lse": "SDPA returns no LSE: the baseline is plain attention"}


def sdpa_call(inputs: CaseInputs) -> Callable[[], torch.Tensor]:
    """A call of SDPA's default backend on ``inputs``, its keywords prepared."""
    q, k, v = inputs.q, inputs.k, inputs.v
    lq, lk = q.shape[2], k.shape[2]
    kwargs = {"enable_gqa": q.shape[1] != k.shape[1]}
    options = inputs.kwargs
    if options.get("causal"):
        kwargs["is_causal"] = True
    if "window" in options or "mask" in options:
        kwargs["attn_mask"] = visible_keys(lq, lk, causal=False, alignment="bottom_right",
                                           window=options.get("window"), mask=options.get("mask"),
                                           device=q.device)  # bool, [Lq, Lk] or [B, 1, 1, Lk]
    if "alibi_slopes" in options:
        kwargs["attn_mask"] = alibi_bias(options["alibi_slopes"], lq, lk, q.dtype,
                                         q.device)[None]  # [1, Hq, Lq, Lk]

    def call() -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, **kwargs)

    return call
