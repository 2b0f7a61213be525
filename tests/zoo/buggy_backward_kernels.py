"""A zoo of attention kernels whose forward is correct and whose backward has one bug each.

Every buggy kernel here is the same ``torch.autograd.Function``: an independent dense forward
(written below, float32 scores and softmax, out and lse saved) and a hand-written
FlashAttention-2 style backward (scores recomputed over 16-key tiles, P = exp(S - lse),
dV += P^T dO, dS = P o (dP - D) with D = rowsum(dO o O) - dlse, softcap factor, dQ += scale dS K,
dK += scale dS^T Q, GQA sums), with one bug injected through a named hook. Each declares itself
as a user would (a plain dict with "backward": True, no attnspec import) and names in its
docstring the bug class, where real kernels shipped it (the public issue or pull-request
thread's repository and title), and the property expected to catch it.

The gradient properties (docs/kernel-contract.md "Gradients") are gradients_match_oracle,
gradients_finite_on_empty_rows, backward_deterministic, backward_leaves_inputs_unchanged,
key_gradients_sum_to_zero and value_gradients_sum_to_output_gradients.
tests/zoo/test_backward_zoo_selfcheck.py shows each bug is real (an input where its gradients
are far from float64 autograd, NaN, nondeterministic, or where it writes into an input) and that
every control (``CONTROLS_BACKWARD``) passes the same checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

BACKWARD_FULL = {
    "dtypes": ["float16", "bfloat16", "float32", "float64"],
    "causal": "bottom_right",
    "alibi": True,
    "mask": True,
    "gqa": True,
    "window": True,
    "softcap": True,
    "lse": True,
    "backward": True,
    "empty_rows": "zero",
    "rounds_p": False,
}
BLOCK = 16  # keys per tile in the hand-written backward


def declare(**changes):
    def attach(fn):
        fn.attnspec = {**BACKWARD_FULL, **changes}
        return fn

    return attach


# ---------------------------------------------------------------------------------------------
# The correct forward, and the contract's masks and scores (shared by forward and backward)


def _visible(Lq, Lk, causal, window, mask, device, cols=slice(None), *, top_left=False,
             window_exclusive=False):
    """bool broadcastable to [B, Hq, Lq, len(cols)], True = may attend."""
    i = torch.arange(Lq, device=device)[:, None]
    j = torch.arange(Lk, device=device)[cols][None, :]
    off = Lk - Lq
    vis = torch.ones(Lq, j.shape[1], dtype=torch.bool, device=device)
    if causal:
        vis = vis & (j <= i + (0 if top_left else off))  # BUG hook: top-left alignment
    if window is not None:
        left, right = window
        if left is not None:
            # BUG hook: left edge exclusive
            vis = vis & ((j > i + off - left) if window_exclusive else (j >= i + off - left))
        if right is not None:
            vis = vis & (j <= i + off + right)
    if mask is not None:
        vis = vis & mask.to(device)[..., cols]
    return vis


def _alibi(slopes, Lq, Lk, dtype, device, cols=slice(None)):
    """[Hq, Lq, len(cols)]: -slope_h |i + Lk - Lq - j|."""
    i = torch.arange(Lq, device=device)[:, None]
    j = torch.arange(Lk, device=device)[cols][None, :]
    return -slopes.to(device=device, dtype=dtype)[:, None, None] * (i + Lk - Lq - j).abs().to(dtype)


def _expand(x, q_heads):
    """[B, Hk, L, D] -> [B, Hq, L, D]: query head h reads kv head h // (Hq / Hk)."""
    return x.repeat_interleave(q_heads // x.shape[1], dim=1)


def _scale(scale, d):
    return 1 / math.sqrt(d) if scale is None else float(scale)


def _dense_forward(q, k, v, o):
    """out [B, Hq, Lq, Dv] (q's dtype) and lse [B, Hq, Lq] (float32, or float64 for float64
    inputs): softmax(S) V with the row maximum subtracted; rows with no visible key: 0, -inf.
    Differentiable by torch autograd with no 0/0 or log 0 in the graph."""
    acc = torch.promote_types(q.dtype, torch.float32)
    Hq, Lq, Lk = q.shape[1], q.shape[2], k.shape[2]
    s = (q.to(acc) @ _expand(k, Hq).to(acc).transpose(-1, -2)) * _scale(o.scale, q.shape[-1])
    if o.softcap is not None:
        s = o.softcap * torch.tanh(s / o.softcap)
    if o.alibi_slopes is not None:
        s = s + _alibi(o.alibi_slopes, Lq, Lk, acc, q.device)
    s = s.masked_fill(~_visible(Lq, Lk, o.causal, o.window, o.mask, q.device), float("-inf"))
    m = s.amax(dim=-1, keepdim=True).detach()
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(s - m)
    total = e.sum(dim=-1, keepdim=True)
    nonempty = total > 0
    safe = torch.where(nonempty, total, torch.ones_like(total))
    out = ((e / safe) @ _expand(v, Hq).to(acc)).to(q.dtype)
    lse = torch.where(nonempty, m + torch.log(safe), torch.full_like(m, float("-inf")))
    return out, lse.squeeze(-1)


@dataclass(frozen=True)
class _Options:
    scale: float | None = None
    causal: bool = False
    alibi_slopes: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    window: tuple | None = None
    softcap: float | None = None


# ---------------------------------------------------------------------------------------------
# The hand-written backward, with its bug hooks


class _HandWritten(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, options: _Options, bug: str | None):
        with torch.no_grad():
            out, lse = _dense_forward(q, k, v, options)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.options, ctx.bug = options, bug
        ctx.set_materialize_grads(False)
        return out, lse

    @staticmethod
    def backward(ctx, d_out, d_lse):
        q, k, v, out, lse = ctx.saved_tensors
        dq, dk, dv = _backward(q, k, v, out, lse, d_out, d_lse, ctx.options, ctx.bug)
        return dq, dk, dv, None, None


def _backward(q, k, v, out, lse, d_out, d_lse, o: _Options, bug: str | None):
    acc = torch.promote_types(q.dtype, torch.float32)
    B, Hq, Lq, D = q.shape  # q [B, Hq, Lq, D]
    Hk, Lk, Dv = k.shape[1], k.shape[2], v.shape[3]  # k [B, Hk, Lk, D], v [B, Hk, Lk, Dv]
    G = Hq // Hk
    scale = _scale(o.scale, D)
    dev = q.device
    if d_out is None:
        d_out = torch.zeros_like(out)
    if bug == "contiguous_dout":  # BUG: reads dO's storage as if it were contiguous
        base = torch.empty(0, dtype=d_out.dtype, device=dev).set_(d_out.untyped_storage())
        d_out = base[: d_out.numel()].view(d_out.shape)
    do = d_out.to(acc)  # [B, Hq, Lq, Dv]
    qa, ka, va = q.to(acc), _expand(k, Hq).to(acc), _expand(v, Hq).to(acc)
    mask = o.mask
    if bug == "mask_heads" and mask is not None and mask.dim() == 4:
        mask = mask[:, :1]  # BUG: the backward reads the first head's mask for every head

    def scores(cols, with_alibi=True):
        raw = (qa @ ka[:, :, cols].transpose(-1, -2)) * scale  # r, [B, Hq, Lq, bk]
        t = torch.tanh(raw / o.softcap) if o.softcap is not None else None
        s = o.softcap * t if o.softcap is not None else raw
        if o.alibi_slopes is not None and with_alibi:
            s = s + _alibi(o.alibi_slopes, Lq, Lk, acc, dev, cols)
        vis = _visible(Lq, Lk, o.causal, o.window, mask, dev, cols,
                       top_left=bug == "causal_top_left", window_exclusive=bug == "window_edge")
        return s.masked_fill(~vis, float("-inf")), t

    # The shift P = exp(S - shift): the lse, 0 on rows with no visible key (exp(-inf) = 0).
    shift = torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse)).to(acc)
    if bug == "nan_empty_rows":
        shift = lse.to(acc)  # BUG: no guard; exp(-inf - (-inf)) = NaN on rows with no key
    if bug in ("unnormalised_p", "writes_dout"):
        # These kernels saved the row maximum m (as the first Triton tutorial did), not lse.
        s_all, _ = scores(slice(None))
        m = s_all.amax(dim=-1)
        m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        shift = m  # exp(S - m) = l P, with l = sum_j exp(s_j - m) = exp(lse - m)
        if bug == "writes_dout":
            # dO / l in place of dO, so that exp(S - m) needs no 1/l: the gradients are right,
            # but the caller's dO is overwritten (BUG).
            norm = torch.where(torch.isfinite(lse), torch.exp(lse.to(acc) - m),
                               torch.ones_like(m))  # l
            do = do / norm[..., None]
            d_out.copy_(do)
    delta = (do * out.to(acc)).sum(-1)  # D_i = rowsum(dO o O)  [B, Hq, Lq]
    if d_lse is not None and bug != "ignores_dlse":  # BUG hook: dlse dropped
        dl = d_lse.to(acc)
        delta = delta - (dl / norm if bug == "writes_dout" else dl)

    half = bug == "dq_half"  # BUG hook: dQ accumulator kept in the input dtype between tiles
    dq = torch.zeros((B, Hq, Lq, D), dtype=q.dtype if half else acc, device=dev)
    dk = torch.zeros((B, Hq, Lk, D), dtype=acc, device=dev)  # per query head
    dv = torch.zeros((B, Hq, Lk, Dv), dtype=acc, device=dev)  # per query head
    for start in range(0, Lk, BLOCK):
        cols = slice(start, min(start + BLOCK, Lk))
        s, t = scores(cols, with_alibi=bug != "no_alibi")  # BUG hook: ALiBi left out
        k_tile, v_tile = ka[:, :, cols], va[:, :, cols]
        if bug == "short_tile" and Lk < BLOCK:
            # BUG: a row shorter than one tile is loaded as a full tile without the bounds
            # mask: the BLOCK - Lk keys past the end are uninitialised memory (NaN here) and
            # their scores are not set to -inf.
            pad = BLOCK - Lk
            k_tile = torch.cat([k_tile, k_tile.new_full((B, Hq, pad, D), float("nan"))], 2)
            v_tile = torch.cat([v_tile, v_tile.new_full((B, Hq, pad, Dv), float("nan"))], 2)
            s = torch.cat([s, qa @ k_tile[:, :, Lk:].transpose(-1, -2) * scale], -1)
            if t is not None:
                t = torch.cat([t, torch.tanh(s[..., Lk:] / o.softcap)], -1)
        p = torch.exp(s - shift[..., None])  # [B, Hq, Lq, bk]
        dp = do @ v_tile.transpose(-1, -2)  # [B, Hq, Lq, bk]
        ds = p * dp if bug == "no_delta" else p * (dp - delta[..., None])  # BUG hook: no -D
        if o.softcap is not None and bug != "no_dtanh":  # BUG hook: no (1 - tanh^2)
            ds = ds * (1 - t * t)
        n = min(start + BLOCK, Lk) - start  # real keys in this tile
        dv[:, :, cols] += p[..., :n].transpose(-1, -2) @ do
        dk[:, :, cols] += (ds[..., :n].transpose(-1, -2) @ qa) * (
            1.0 if bug == "dk_unscaled" else scale)  # BUG hook: dK without the scale
        if bug == "nondeterministic_dq":
            continue  # dQ below, in a random order
        contribution = (ds @ k_tile) * scale
        dq = (dq.to(acc) + contribution).to(q.dtype) if half else dq + contribution

    if bug == "nondeterministic_dq":
        # BUG (declared deterministic): dQ summed key by key in an order that changes from call
        # to call, as atomicAdd from concurrent key blocks does.
        s_all, t_all = scores(slice(None))
        dp_all = do @ va.transpose(-1, -2)
        ds_all = torch.exp(s_all - shift[..., None]) * (dp_all - delta[..., None])
        if o.softcap is not None:
            ds_all = ds_all * (1 - t_all * t_all)
        for j in torch.randperm(Lk).tolist():
            dq = dq + (ds_all[..., j:j + 1] @ ka[:, :, j:j + 1]) * scale

    if bug == "gqa_last_head":
        # BUG: each query head stores (not adds) its dK, dV into its kv head's slot; the last
        # head of the group wins.
        dk = dk.view(B, Hk, G, Lk, D)[:, :, -1]
        dv = dv.view(B, Hk, G, Lk, Dv)[:, :, -1]
    else:
        dk = dk.view(B, Hk, G, Lk, D).sum(2)
        dv = dv.view(B, Hk, G, Lk, Dv).sum(2)
    return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype)


def _hand_written(q, k, v, bug=None, *, scale=None, causal=False, alibi_slopes=None, mask=None,
                  window=None, softcap=None, return_lse=False):
    options = _Options(scale, bool(causal), alibi_slopes, mask,
                       None if window is None else tuple(window), softcap)
    out, lse = _HandWritten.apply(q, k, v, options, bug)
    return (out, lse) if return_lse else out


# ---------------------------------------------------------------------------------------------
# The softmax Jacobian


@declare()
def delta_term_missing(q, k, v, **kw):
    """dS = P o dP: the backward drops the -D_i = -rowsum(dO o O)_i term of the softmax
    Jacobian (the FlashAttention-2 "preprocess" step, dot(dO, O), never subtracted). The same
    class of mistake: ROCm/MIOpen issue "MIOpenSoftmax.cl kernel bug" (softmax backward formula
    wrong) and pjreddie/darknet pull request "Softmax" (softmax backward that copied the
    incoming gradient through). Caught by gradients_match_oracle and key_gradients_sum_to_zero
    (with D, sum_j dS_ij = dlse_i, so sum_j dK_j = 0 when dlse = 0; without it, not)."""
    return _hand_written(q, k, v, "no_delta", **kw)


@declare()
def lse_gradient_ignored(q, k, v, **kw):
    """Returns a differentiable lse but its backward ignores dlse (D_i = rowsum(dO o O)_i, no
    - dlse_i): Dao-AILab/flash-attention issue "softmax_lse is silently not backpropogated"
    (and "How to obtain differentiable softmax_lse"), where a loss on lse gave zero gradients.
    Caught by gradients_match_oracle on cases with return_lse and dlse != 0."""
    return _hand_written(q, k, v, "ignores_dlse", **kw)


@declare()
def unnormalised_p_in_backward(q, k, v, **kw):
    """Saves the row maximum m instead of lse and recomputes P = exp(S - m) in the backward
    without the 1/l: P comes out l times too large (l = sum_j exp(s_j - m) >= 1), and so do dV
    and dS. The original Triton fused-attention tutorial's backward relied on dO being
    "pre-divided by l" for exactly this reason (triton-lang/triton issue "Performance gap
    between triton and flash attn" quotes it); a port that drops the pre-division ships this
    bug. Caught by gradients_match_oracle and value_gradients_sum_to_output_gradients."""
    return _hand_written(q, k, v, "unnormalised_p", **kw)


@declare()
def nan_grad_on_empty_rows(q, k, v, **kw):
    """Recomputes P = exp(S - lse) without FlashAttention's guard (lse == -inf ? 0 : lse; see
    Dao-AILab/flash-attention pull requests "backwards for softcapping" and "Fix +/-inf in LSE
    returned by forward"): on a row with no visible key exp(-inf - (-inf)) = NaN, which spreads
    into that row's dQ and into dK, dV of its head. The forward is right (0 and -inf). Real
    kernels: pytorch/pytorch issue "nn.MultiheadAttention causes gradients to become NaN under
    some use cases" (fully masked rows). Caught by gradients_finite_on_empty_rows."""
    return _hand_written(q, k, v, "nan_empty_rows", **kw)


# ---------------------------------------------------------------------------------------------
# Scale, softcap, ALiBi


@declare()
def dk_missing_scale(q, k, v, **kw):
    """dK = dS^T Q without the softmax scale (dQ keeps it): the scale is folded into dQ's
    epilogue and forgotten in dK's. In flash-attn-4 the dK scaling is a separate step fed its
    own softmax_scale (Dao-AILab/flash-attention issue "FlashAttentionBackwardSm80:
    compute_softmax_scale_log2 overwrites softmax_scale with None -> DSLRuntimeError"). Caught
    by gradients_match_oracle whenever scale != 1."""
    return _hand_written(q, k, v, "dk_unscaled", **kw)


@declare()
def softcap_backward_missing_dtanh(q, k, v, **kw):
    """Softcap in the forward, but the backward never multiplies dS by the derivative
    1 - tanh^2(r / c) of c tanh(r / c): correct only where the cap is inactive. The factor is
    what Dao-AILab/flash-attention pull request "backwards for softcapping" added (dtanh
    multiplied into dS) and openxla/tokamax pull request "Support logits soft-capping in the
    Pallas-Triton attention VJP" chains in. Caught by gradients_match_oracle with softcap."""
    return _hand_written(q, k, v, "no_dtanh", **kw)


@declare()
def alibi_missing_in_backward(q, k, v, **kw):
    """ALiBi in the forward, left out of the backward's score recompute: P = exp(S_without_bias
    - lse) is not the softmax. The backward needs the bias added separately (ROCm/triton pull
    request "alibi backward"; ROCm/aotriton pull request "fixed bias and alibi_block f32
    asymmtry between the fwd and bwd"). Caught by gradients_match_oracle with ALiBi, and by
    value_gradients_sum_to_output_gradients and key_gradients_sum_to_zero."""
    return _hand_written(q, k, v, "no_alibi", **kw)


# ---------------------------------------------------------------------------------------------
# Masks and positions: the backward's recompute must hide exactly the forward's keys


@declare()
def causal_top_left_in_backward(q, k, v, **kw):
    """Bottom-right causal in the forward, top-left (j <= i) in the backward's recompute: wrong
    gradients (or NaN) whenever Lq != Lk. xlite-dev/ffpa-attn pull request "Fix causal
    cross-attention alignment in Triton backward" (forward q + seqlen_k - seqlen_q >= k,
    backward q >= k). Caught by gradients_match_oracle on causal cases with Lq != Lk."""
    return _hand_written(q, k, v, "causal_top_left", **kw)


@declare()
def window_off_by_one_in_backward(q, k, v, **kw):
    """The backward's sliding window drops its left edge (j > i - left where the forward has
    j >= i - left): "the backward pass recomputes softmax from the stored LSE, so the masks
    must match exactly" (ROCm/aiter pull request "[triton] Add sliding-window support to
    flash-attention backward"); a backward that applies another window policy than the
    forward's, AMD-AGI/Primus-Turbo pull request "[feat] add sliding window for sink attn"; the
    same off-by-one in forward code, microsoft/onnxruntime pull request "Fix Local Attention off
    by 1 bug". Caught by gradients_match_oracle with a window."""
    return _hand_written(q, k, v, "window_edge", **kw)


@declare()
def backward_mask_ignores_heads(q, k, v, **kw):
    """The backward reads the mask of head 0 for every head (mask[:, :1]), as if masks never
    varied by head; the forward reads them all. The class, a backward whose mask differs from
    the forward's: triton-lang/triton issue "Why fused attn tutorial cannot pass bwd testop?"
    (the backward never applies the forward's causal mask). Caught by gradients_match_oracle on
    cases whose mask varies by head."""
    return _hand_written(q, k, v, "mask_heads", **kw)


@declare()
def short_rows_read_past_the_tile(q, k, v, **kw):
    """Rows shorter than one 16-key tile (Lk < 16, as Lk = 1) are loaded as a full tile with
    no bounds mask: the keys past the end are uninitialised memory (NaN here) and unmasked, so
    dQ is NaN. openxla/tokamax issue "no bounds check for attention vjp kernel" (NaN gradients
    for sequences shorter than the block); flagos-ai/FlagGems pull request
    "scaled_dot_product_attention_backward support non-square tuning, non-causal, and unequal
    lengths of q and kv sequences" (a load without its bounds mask). Caught by
    gradients_match_oracle at Lk < 16."""
    return _hand_written(q, k, v, "short_tile", **kw)


# ---------------------------------------------------------------------------------------------
# Heads, accumulation, determinism


@declare()
def gqa_dkdv_last_head_wins(q, k, v, **kw):
    """GQA backward that stores each query head's dK, dV into its kv head's slot instead of
    summing over the group: the last query head of each group wins. marin-community/levanter
    pull request "Bugfix: GQA with FA" (dK, dV must be summed over the broadcast heads);
    XunhaoLai/native-sparse-attention-triton issue "flash_attention_varlen backward: wrong
    head-count division under gqa_interleave ...". Caught by gradients_match_oracle and
    value_gradients_sum_to_output_gradients whenever Hq > Hk."""
    return _hand_written(q, k, v, "gqa_last_head", **kw)


@declare(dtypes=["float16", "bfloat16"])
def dq_accumulated_in_half(q, k, v, **kw):
    """Keeps the dQ accumulator in the input dtype (float16/bfloat16) between 16-key tiles, as
    an atomic add into a bfloat16 dQ image does, instead of float32: one rounding per tile.
    facebookresearch/xformers pull request "MemEff: Accumulate in f32 for bw";
    AMD-AGI/Primus-Turbo pull request "perf(attn): speed up the FlyDSL attention backward ..."
    (dQ added into one bf16 image). The error grows with the number of tiles and with the size
    of dQ's partial sums: on N(0, 1) inputs it is only 1-4 times a correct kernel's error even
    at 1024 keys; with keys sharing a common offset and values drifting along the row (partial
    sums far larger than the final dQ) it is 10-50 times at 256-1024 keys. Caught by
    gradients_match_oracle: 1.5-7x its budget on 64-1024 keys with 16 query rows
    (docs/error-budget.md "Gradients"), 1.3x on 2 rows of 255 keys sharing a component
    (score_shift; tests/zoo/test_long_rows.py); at ci only just, when the search meets a case
    where it shows (1.08x on 17 keys in float16), and not on every run."""
    return _hand_written(q, k, v, "dq_half", **kw)


@declare()
def nondeterministic_dq_declared_deterministic(q, k, v, **kw):
    """Sums dQ over keys in an order that changes from call to call (the atomicAdd of
    concurrent key blocks) while declaring a deterministic backward: the low bits of dQ differ
    between two identical calls. Dao-AILab/flash-attention issue "Uncertainty in
    FlashAttention2 backward" (dQ differs run to run, dK and dV do not). Caught by
    backward_deterministic (needs Lk >= 3)."""
    return _hand_written(q, k, v, "nondeterministic_dq", **kw)


# ---------------------------------------------------------------------------------------------
# Hygiene: the incoming gradient


@declare()
def writes_into_grad_output(q, k, v, **kw):
    """Divides dO by l in place (the Triton tutorial's "dO pre-divided by l" stored back into
    dO's buffer to save one): the gradients are right, the caller's dO is overwritten.
    pytorch/pytorch issue "Add a check to detect mutation of the inputs during backward"
    ("modifying the grad_input during the backward pass ... can produce silently incorrect
    gradients"). Caught by backward_leaves_inputs_unchanged."""
    return _hand_written(q, k, v, "writes_dout", **kw)


@declare()
def assumes_contiguous_grad_output(q, k, v, **kw):
    """Reads dO's storage as if dO were contiguous (a raw-pointer backward that ignores the
    strides of the incoming gradient): right for contiguous dO, wrong for a transposed or
    offset one, which autograd hands over as it is. Dao-AILab/flash-attention issue "Incorrect
    backward pass for non-contiguous output grads"; facebookresearch/xformers pull request
    "Handle non-contiguous grad_out and add checks for qkv". Caught by gradients_match_oracle
    on cases with a non-contiguous dO (grad_layout other than contiguous)."""
    return _hand_written(q, k, v, "contiguous_dout", **kw)


BACKWARD_ZOO = [
    delta_term_missing, lse_gradient_ignored, unnormalised_p_in_backward, nan_grad_on_empty_rows,
    dk_missing_scale, softcap_backward_missing_dtanh, alibi_missing_in_backward,
    causal_top_left_in_backward, window_off_by_one_in_backward, backward_mask_ignores_heads,
    short_rows_read_past_the_tile, gqa_dkdv_last_head_wins,
    nondeterministic_dq_declared_deterministic, writes_into_grad_output,
    assumes_contiguous_grad_output,
]
# Held to a fixed longer row (tests/zoo/test_long_rows.py), not to the ci search: an error that
# grows with the number of key tiles and the size of dQ's partial sums. One ci run caught it at
# 1.08x on a 17-key case, another (the same seed, in a pytest-xdist worker) drew no case where
# it shows: hypothesis's later draws shift with the process (docs/architecture.md).
BACKWARD_LONG_ROW_ZOO = [dq_accumulated_in_half]


# ---------------------------------------------------------------------------------------------
# Controls: correct backward kernels. They must pass, which shows that each catch above is the
# injected bug and not the zoo's scaffolding or the properties' budgets.


@declare()
def control_autograd_dense(q, k, v, *, scale=None, causal=False, alibi_slopes=None, mask=None,
                           window=None, softcap=None, return_lse=False):
    """torch autograd through the zoo's dense forward (float32 scores and softmax), no
    hand-written backward."""
    options = _Options(scale, bool(causal), alibi_slopes, mask,
                       None if window is None else tuple(window), softcap)
    out, lse = _dense_forward(q, k, v, options)
    return (out, lse) if return_lse else out


@declare()
def control_hand_written(q, k, v, **kw):
    """The zoo's hand-written backward with no bug injected."""
    return _hand_written(q, k, v, None, **kw)


def _flash_backward_control():
    from attnspec.kernels.attention.flash_backward import make_flash_backward_kernel

    kernel = make_flash_backward_kernel(block_k=16, block_q=16)

    def control_flash_backward(q, k, v, **kw):
        """attnspec's FlashAttention-2 style kernel (kernels/attention/flash_backward.py):
        tiled forward with P rounded before P V, hand-written tiled backward with P and dS
        rounded to the input dtype."""
        return kernel(q, k, v, **kw)

    control_flash_backward.attnspec = dict(kernel.attnspec)
    return control_flash_backward


control_flash_backward = _flash_backward_control()

CONTROLS_BACKWARD = [control_autograd_dense, control_hand_written, control_flash_backward]
