"""Correct kernels whose roundings the error budget once left out (issue 14, items 2 and 3).

Each kernel here is correct: it makes only roundings that a real kernel of its design makes,
and declares its precision honestly. The error budget (oracles/attention/error_budget.py) must
pass them; tests/oracles/test_error_budget_split_merge.py and
tests/oracles/test_error_budget_low_precision_scores.py hold it to that on the rows where the
old budget failed them.

- ``split_kv_*``: split-KV attention as FlashAttention's split-KV combine, flash-decoding and
  ring attention compute it. The keys are cut into S contiguous splits; each split h yields its
  normalised output out_h and lse_h = m_h + log l_h, stored in float32; the merge forms
  lse = lse_max + log sum_h exp(lse_h - lse_max) and out = sum_h exp(lse_h - lse) out_h.
  ``split_kv_float32_S`` does every step in float32; ``split_kv_rounded_lse_S`` does every step
  exactly (float64) except that it stores each lse_h and the merged lse in float32, the one
  rounding the old budget did not know (it is u |lse_h|, shared by every weight of a split).
- ``bfloat16_scores_once`` / ``float16_scores_once``: the exact score rounded once to the
  declared accumulation dtype (``"accumulation": "bfloat16"`` or ``"float16"``), everything
  else in float64, the output rounded once to the input dtype. At scores near 1e4 one rounding
  is an exponent error of up to 32 (bfloat16) or 4 (float16): far outside first order.

Supported options: scale, causal (bottom-right), boolean mask, GQA, return_lse. Shapes:
q [B, Hq, Lq, D], k [B, Hk, Lk, D], v [B, Hk, Lk, Dv].
"""

from __future__ import annotations

import math

import torch

SPLIT_COUNTS = (2, 4, 16)
_OPTIONS = {"causal": "bottom_right", "mask": True, "gqa": True, "lse": True,
            "empty_rows": "zero"}


def _visible(Lq: int, Lk: int, causal: bool, mask, device) -> torch.Tensor:
    """[.., Lq, Lk] True where key j is visible to query i (bottom-right causal, mask)."""
    i = torch.arange(Lq, device=device)[:, None]
    j = torch.arange(Lk, device=device)[None, :]
    vis = torch.ones(Lq, Lk, dtype=torch.bool, device=device)
    if causal:
        vis = vis & (j <= i + (Lk - Lq))
    if mask is not None:
        vis = vis & mask
    return vis


def _scores(q, k, scale, dtype) -> torch.Tensor:
    """scale <q_i, k_j> in ``dtype``, [B, Hq, Lq, Lk]; query head h reads kv head h // G."""
    k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
    sm = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    return (q.to(dtype) @ k.to(dtype).transpose(-1, -2)) * sm


def _split_kv(q, k, v, splits: int, compute: torch.dtype, stored_lse: torch.dtype, *,
              scale=None, causal=False, mask=None, return_lse=False):
    """Split-KV attention: S contiguous key splits, merged through their stored lse."""
    Hq, Lq, Lk = q.shape[1], q.shape[2], k.shape[2]
    s = _scores(q, k, scale, compute)
    s = s.masked_fill(~_visible(Lq, Lk, causal, mask, q.device), float("-inf"))
    vv = v.repeat_interleave(Hq // v.shape[1], dim=1).to(compute)
    outs, lses = [], []
    for keys in torch.arange(Lk, device=q.device).tensor_split(splits):
        if len(keys) == 0:
            continue
        sh = s[..., keys]  # [B, Hq, Lq, n_h]
        m = sh.amax(-1, keepdim=True)
        m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        p = torch.exp(sh - m)
        total = p.sum(-1, keepdim=True)
        out_h = torch.where(total > 0, (p @ vv[..., keys, :]) / total, torch.zeros_like(total))
        lse_h = torch.where(total > 0, m + torch.log(total), torch.full_like(m, float("-inf")))
        outs.append(out_h)
        lses.append(lse_h.to(stored_lse).to(compute))  # the stored lse_h: one rounding
    lse = torch.stack(lses)  # [S, B, Hq, Lq, 1]
    top = lse.amax(0)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    merged = (top + torch.log(torch.exp(lse - top).sum(0))).to(stored_lse).to(compute)
    weights = torch.exp(lse - merged)  # exp(lse_h - lse): NaN only on rows with no visible key
    out = (weights * torch.stack(outs)).sum(0)
    out = torch.where(torch.isfinite(merged), out, torch.zeros_like(out)).to(q.dtype)
    return (out, merged.squeeze(-1)) if return_lse else out


def _split_kv_kernel(splits: int, compute: torch.dtype, name: str, doc: str):
    def kernel(q, k, v, **kw):
        return _split_kv(q, k, v, splits, compute, torch.float32, **kw)

    kernel.__name__ = kernel.__qualname__ = name
    kernel.__doc__ = doc
    kernel.attnspec = {"dtypes": ["float32"], "rounds_p": False, **_OPTIONS}
    return kernel


for _S in SPLIT_COUNTS:
    globals()[f"split_kv_float32_{_S}"] = _split_kv_kernel(
        _S, torch.float32, f"split_kv_float32_{_S}",
        f"Split-KV attention over {_S} key splits, every step in float32.")
    globals()[f"split_kv_rounded_lse_{_S}"] = _split_kv_kernel(
        _S, torch.float64, f"split_kv_rounded_lse_{_S}",
        f"Split-KV attention over {_S} key splits, exact but for each stored lse_h and the "
        f"merged lse, rounded to float32, and the output's rounding to float32.")


def _scores_rounded_once(q, k, v, score_dtype, *, scale=None, causal=False, mask=None,
                         return_lse=False):
    """Exact scores rounded once to ``score_dtype``; softmax, sums and lse in float64."""
    Hq, Lq, Lk = q.shape[1], q.shape[2], k.shape[2]
    s = _scores(q, k, scale, torch.float64).to(score_dtype).to(torch.float64)
    visible = _visible(Lq, Lk, causal, mask, q.device)
    s = s.masked_fill(~visible, float("-inf"))
    m = s.amax(-1, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    p = torch.exp(s - m)
    total = p.sum(-1, keepdim=True)
    vv = v.repeat_interleave(Hq // v.shape[1], dim=1).to(torch.float64)
    out = torch.where(total > 0, (p @ vv) / total, torch.zeros_like(total)).to(q.dtype)
    if not return_lse:
        return out
    return out, (m + torch.log(total)).squeeze(-1).to(torch.float32)


def bfloat16_scores_once(q, k, v, **kw):
    """Each exact score rounded once to bfloat16, as a kernel whose score GEMM writes bfloat16
    does; everything else exact; declared with accumulation bfloat16."""
    return _scores_rounded_once(q, k, v, torch.bfloat16, **kw)


def float16_scores_once(q, k, v, **kw):
    """Each exact score rounded once to float16; everything else exact; declared with
    accumulation float16."""
    return _scores_rounded_once(q, k, v, torch.float16, **kw)


bfloat16_scores_once.attnspec = {"dtypes": ["bfloat16"], "accumulation": "bfloat16",
                                 "rounds_p": False, **_OPTIONS}
float16_scores_once.attnspec = {"dtypes": ["float16"], "accumulation": "float16",
                                "rounds_p": False, **_OPTIONS}

SPLIT_KV = [globals()[f"split_kv_{kind}_{S}"] for kind in ("float32", "rounded_lse")
            for S in SPLIT_COUNTS]
LOW_PRECISION_SCORES = [bfloat16_scores_once, float16_scores_once]
