"""FlashAttention-2 style attention with a hand-written backward (a torch.autograd.Function).

Claim (Dao 2023, "FlashAttention-2", Algorithm 2; docs/kernel-contract.md "Gradients"): with
O and lse saved by the forward, the backward recomputes the scores tile by tile and needs no
[Lq, Lk] buffer:

    S  = scale q k^T (softcap c tanh(S / c), then ALiBi), hidden keys -inf
    P  = exp(S - lse)                         (0 on hidden keys and on rows with no visible key)
    dV = sum over tiles of P^T dO             (summed over the query heads of each kv head)
    dP = dO V^T,  D_i = rowsum(dO o O)_i - dlse_i,  dS = P o (dP - D)
    dR = dS o (1 - tanh^2(r / c)) under softcap (r = scale <q, k>), else dS
    dQ = scale dR K,  dK = scale dR^T Q      (dK summed over the query heads of each kv head)

which is the gradient of L = <dO, out> + <dlse, lse> in exact arithmetic. Precision model, as
FlashAttention-2 on tensor cores: scores, P, dP, D and dS in ``accumulation`` (float32, or the
input dtype when wider); P rounded to the input dtype before P^T dO and dS rounded to the input
dtype before dS K and dS^T Q, products accumulated in ``accumulation``; D formed from the
stored (rounded) output; results cast to the input dtype. The forward is tiled.py's online
softmax with P rounded before P V (``rounds_p``).

Loops run in a fixed order (key tiles outer, query tiles inner, as FlashAttention-2's
column-parallel backward, dQ accumulated tile after tile rather than with atomics): two
backward calls agree bitwise. Nothing is written into q, k, v, dO or dlse.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable

from attnspec.kernels.attention.contract import (
    accumulation_dtype,
    alibi_bias,
    check_qkv,
    expand_kv_heads,
    resolve_scale,
    visible_keys,
)
from attnspec.kernels.attention.tiled import make_tiled_kernel
from attnspec.kernels.spec import KernelSpec


@dataclass(frozen=True)
class _Options:
    """The non-tensor options of one call, and the kernel's tiling and precision."""

    scale: float | None
    causal: bool
    window: tuple[int | None, int | None] | None
    softcap: float | None
    block_k: int
    block_q: int
    accumulation: torch.dtype
    forward: object  # the tiled forward kernel (returns out, lse)


def _tile_visible(q_len, kv_len, rows: slice, cols: slice, opts: _Options, mask, device):
    """bool broadcastable to [B, Hq, len(rows), len(cols)] (True = may attend), or None."""
    visible = visible_keys(q_len, kv_len, causal=opts.causal, alignment="bottom_right",
                           window=opts.window, mask=mask, device=device, keys=cols)
    if visible is None:
        return None
    if visible.dim() < 2:  # a 1-d mask over keys: the same for every row
        visible = visible.unsqueeze(0)
    return visible if visible.shape[-2] == 1 else visible[..., rows, :]


class _FlashAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, alibi_slopes, mask, opts: _Options):
        out, lse = opts.forward(q, k, v, scale=opts.scale, causal=opts.causal,
                                alibi_slopes=alibi_slopes, mask=mask, window=opts.window,
                                softcap=opts.softcap, return_lse=True)
        ctx.save_for_backward(q, k, v, out, lse, alibi_slopes, mask)
        ctx.opts = opts
        ctx.set_materialize_grads(False)  # an unused lse gives None, not a tensor of zeros
        return out, lse

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_lse):
        q, k, v, out, lse, alibi_slopes, mask = ctx.saved_tensors
        opts = ctx.opts
        acc = accumulation_dtype(q.dtype, opts.accumulation)
        B, Hq, Lq, D = q.shape  # q [B, Hq, Lq, D]
        Hk, Lk, Dv = k.shape[1], k.shape[2], v.shape[3]  # k [B, Hk, Lk, D], v [B, Hk, Lk, Dv]
        group = Hq // Hk
        scale = resolve_scale(opts.scale, D)
        device = q.device

        # .to() makes new tensors (or returns the caller's, never written): dO stays untouched.
        do = (torch.zeros_like(out) if d_out is None else d_out).to(acc)  # [B, Hq, Lq, Dv]
        # D_i = rowsum(dO o O) from the stored, rounded output, minus dlse_i.
        delta = (do * out.to(acc)).sum(dim=-1)  # [B, Hq, Lq]
        if d_lse is not None:
            delta = delta - d_lse.to(acc)
        # Rows with no visible key have lse = -inf: shift them by 0 so that exp(-inf - 0) = 0
        # on their (all hidden) keys instead of exp(-inf + inf) = NaN.
        lse_shift = torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse)).to(acc)

        qa = q.to(acc)
        ka = expand_kv_heads(k, Hq).to(acc)  # [B, Hq, Lk, D]
        va = expand_kv_heads(v, Hq).to(acc)  # [B, Hq, Lk, Dv]
        dq = torch.zeros((B, Hq, Lq, D), dtype=acc, device=device)
        dk = torch.zeros((B, Hq, Lk, D), dtype=acc, device=device)  # per query head
        dv = torch.zeros((B, Hq, Lk, Dv), dtype=acc, device=device)  # per query head

        def rounded(x):  # to the input dtype and back: the operand of a tensor-core GEMM
            return x.to(q.dtype).to(acc)

        for k_start in range(0, Lk, opts.block_k):
            cols = slice(k_start, min(k_start + opts.block_k, Lk))
            k_tile, v_tile = ka[:, :, cols], va[:, :, cols]
            bias = (None if alibi_slopes is None
                    else alibi_bias(alibi_slopes, Lq, Lk, acc, device, cols))  # [Hq, Lq, bk]
            for q_start in range(0, Lq, opts.block_q):
                rows = slice(q_start, min(q_start + opts.block_q, Lq))
                raw = (qa[:, :, rows] @ k_tile.transpose(-1, -2)) * scale  # r, [B, Hq, bq, bk]
                if opts.softcap is not None:
                    capped = torch.tanh(raw / opts.softcap)
                    s = opts.softcap * capped
                else:
                    s = raw
                if bias is not None:
                    s = s + bias[:, rows]
                visible = _tile_visible(Lq, Lk, rows, cols, opts, mask, device)
                if visible is not None:
                    s = s.masked_fill(~visible, float("-inf"))
                p = torch.exp(s - lse_shift[:, :, rows, None])  # [B, Hq, bq, bk]
                do_tile = do[:, :, rows]  # [B, Hq, bq, Dv]
                dv[:, :, cols] += rounded(p).transpose(-1, -2) @ do_tile
                dp = do_tile @ v_tile.transpose(-1, -2)  # [B, Hq, bq, bk]
                ds = p * (dp - delta[:, :, rows, None])
                if opts.softcap is not None:
                    ds = ds * (1 - capped * capped)
                ds = rounded(ds)
                dq[:, :, rows] += (ds @ k_tile) * scale
                dk[:, :, cols] += (ds.transpose(-1, -2) @ qa[:, :, rows]) * scale

        # GQA: kv head g served query heads g*group .. g*group + group - 1; sum their gradients.
        dk = dk.view(B, Hk, group, Lk, D).sum(dim=2)
        dv = dv.view(B, Hk, group, Lk, Dv).sum(dim=2)
        needs = ctx.needs_input_grad
        return (dq.to(q.dtype) if needs[0] else None,
                dk.to(k.dtype) if needs[1] else None,
                dv.to(v.dtype) if needs[2] else None,
                None, None, None)


def make_flash_backward_kernel(block_k: int = 64, block_q: int = 64,
                               accumulation: torch.dtype = torch.float32):
    """A FlashAttention-2 style kernel: tiled forward (key tiles of ``block_k``, P rounded
    before P V) and the hand-written backward over ``block_k`` x ``block_q`` tiles."""
    if block_k < 1 or block_q < 1:
        raise ValueError(f"block sizes must be positive, got block_k={block_k}, "
                         f"block_q={block_q}")
    acc_name = str(accumulation).removeprefix("torch.")
    forward = make_tiled_kernel(block_k=block_k, accumulation=accumulation, rounds_p=True)

    def flash_attention(
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
        opts = _Options(scale=scale, causal=bool(causal),
                        window=None if window is None else tuple(window), softcap=softcap,
                        block_k=block_k, block_q=block_q, accumulation=accumulation,
                        forward=forward)
        out, lse = _FlashAttention.apply(q, k, v, alibi_slopes, mask, opts)
        return (out, lse) if return_lse else out

    name = f"flash_backward_k{block_k}_q{block_q}_{acc_name}"
    flash_attention.__name__ = flash_attention.__qualname__ = name
    KernelSpec(
        dtypes=("float16", "bfloat16", "float32", "float64"),
        devices=("cpu", "cuda"),
        causal="bottom_right",
        alibi=True,
        mask=True,
        gqa=True,
        window=True,
        softcap=True,
        lse=True,
        backward=True,
        empty_rows="zero",
        accumulation=acc_name,
        rounds_p=True,
    )(flash_attention)
    return flash_attention


flash_backward_attention = make_flash_backward_kernel()
