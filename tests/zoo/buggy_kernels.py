"""A zoo of buggy attention kernels: each one a mistake real kernels have shipped with.

Every kernel here is a correct dense or tiled implementation with one bug injected, declares
itself as a user would (the plain capability dict, no attnspec import), and names in its
docstring the bug class and the property expected to catch it. tests/zoo/test_zoo.py asserts
that ``attnspec check`` catches every one; tests/zoo/report.py writes docs/zoo.md.
"""

from __future__ import annotations

import math
import time

import torch

FULL = {
    "dtypes": ["float16", "bfloat16", "float32", "float64"],
    "causal": "bottom_right",
    "alibi": True,
    "mask": True,
    "gqa": True,
    "window": True,
    "softcap": True,
    "lse": True,
    "empty_rows": "zero",
    "rounds_p": False,
}


def declare(**changes):
    def attach(fn):
        fn.attnspec = {**FULL, **changes}
        return fn

    return attach


def _visible(Lq, Lk, causal, window, mask, device, top_left=False, window_exclusive=False,
             causal_lookahead=0, causal_tile=0):
    i = torch.arange(Lq, device=device)[:, None]
    j = torch.arange(Lk, device=device)[None, :]
    off = 0 if top_left else Lk - Lq
    vis = torch.ones(Lq, Lk, dtype=torch.bool, device=device)
    if causal and causal_tile:  # BUG hook: causality decided per key tile, by its first key
        vis = vis & ((j // causal_tile) * causal_tile <= i + off)
    elif causal:
        vis = vis & (j <= i + off + causal_lookahead)  # BUG hook: lookahead > 0 reads ahead
    if window is not None:
        left, right = window
        off_w = Lk - Lq
        if left is not None:
            vis = vis & ((j > i + off_w - left) if window_exclusive else (j >= i + off_w - left))
        if right is not None:
            vis = vis & (j <= i + off_w + right)
    if mask is not None:
        vis = vis & mask
    return vis


def _scores(q, k, scale, softcap, alibi_slopes, *, acc, gqa_modulo=False, slope_order=1,
            alibi_sign=-1, alibi_offset=True, softcap_after_bias=False, ignore_scale=False):
    B, Hq, Lq, D = q.shape
    Hk, Lk = k.shape[1], k.shape[2]
    if gqa_modulo:  # BUG hook: query head h reads kv head h % Hk instead of h // (Hq/Hk)
        k = k[:, torch.arange(Hq, device=q.device) % Hk]
    else:
        k = k.repeat_interleave(Hq // Hk, dim=1)
    sm = 1 / math.sqrt(D) if (scale is None or ignore_scale) else scale
    s = (q.to(acc) @ k.to(acc).transpose(-1, -2)) * sm
    bias = None
    if alibi_slopes is not None:
        i = torch.arange(Lq, device=q.device)[:, None]
        j = torch.arange(Lk, device=q.device)[None, :]
        dist = (i + (Lk - Lq if alibi_offset else 0) - j).abs().to(acc)
        slopes = alibi_slopes.to(acc)
        if slope_order == -1:  # BUG hook: slopes applied in reverse head order
            slopes = slopes.flip(0)
        bias = alibi_sign * slopes[:, None, None] * dist
    if softcap is not None and not softcap_after_bias:
        s = softcap * torch.tanh(s / softcap)
    if bias is not None:
        s = s + bias
    if softcap is not None and softcap_after_bias:  # BUG hook: cap applied to score + bias
        s = softcap * torch.tanh(s / softcap)
    return s


def _dense(q, k, v, *, scale=None, causal=False, alibi_slopes=None, mask=None, window=None,
           softcap=None, return_lse=False, acc=torch.float32, fill=float("-inf"),
           subtract_max=True, eps=0.0, top_left=False, window_exclusive=False,
           empty_nan=False, lse_base2=False, out_dtype=None, causal_lookahead=0, causal_tile=0,
           **score_bugs):
    acc = torch.promote_types(q.dtype, acc)
    Hq, Lq, Lk = q.shape[1], q.shape[2], k.shape[2]
    s = _scores(q, k, scale, softcap, alibi_slopes, acc=acc, **score_bugs)
    vis = _visible(Lq, Lk, causal, window, mask, q.device, top_left, window_exclusive,
                   causal_lookahead, causal_tile)
    s = s.masked_fill(~vis, fill)
    m = s.amax(-1, keepdim=True) if subtract_max else torch.zeros_like(s[..., :1])
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    p = torch.exp(s - m)
    total = p.sum(-1, keepdim=True) + eps
    vv = v.repeat_interleave(Hq // v.shape[1], dim=1).to(acc)
    out = (p @ vv) / total
    if not empty_nan:
        out = torch.where(total > 0, out, torch.zeros_like(out))
    out = out.to(out_dtype or q.dtype)
    if not return_lse:
        return out
    lse = (m + torch.log(total)).squeeze(-1)
    return out, (lse / math.log(2) if lse_base2 else lse)


def _tiled(q, k, v, *, scale=None, causal=False, alibi_slopes=None, mask=None, window=None,
           softcap=None, return_lse=False, block=16, acc_dtype=None, rescale=True,
           drop_tail=False, total_dtype=None, flush_below=0.0):
    acc = torch.promote_types(q.dtype, torch.float32)
    running = acc_dtype or acc  # BUG hook: dtype the running output is kept in between tiles
    kept = total_dtype or acc  # BUG hook: dtype the running normaliser is kept in
    B, Hq, Lq, _ = q.shape
    Lk = k.shape[2]
    s_all = _scores(q, k, scale, softcap, alibi_slopes, acc=acc)
    vis = _visible(Lq, Lk, causal, window, mask, q.device)
    s_all = s_all.masked_fill(~vis, float("-inf"))
    vv = v.repeat_interleave(Hq // v.shape[1], dim=1).to(acc)
    m = torch.full((B, Hq, Lq, 1), float("-inf"), dtype=acc, device=q.device)
    total = torch.zeros((B, Hq, Lq, 1), dtype=acc, device=q.device)
    out = torch.zeros((B, Hq, Lq, v.shape[3]), dtype=running, device=q.device)
    stop = (Lk // block) * block if drop_tail else Lk  # BUG hook: last partial tile dropped
    for start in range(0, stop, block):
        s = s_all[..., start:start + block]
        new = torch.maximum(m, s.amax(-1, keepdim=True))
        shift = torch.where(torch.isfinite(new), new, torch.zeros_like(new))
        alpha = torch.exp(m - shift) if rescale else torch.ones_like(m)  # BUG hook: no rescale
        p = torch.exp(s - shift)
        if flush_below:  # BUG hook: weights below flush_below (relative to the max) dropped
            p = torch.where(p < flush_below, torch.zeros_like(p), p)
        total = (total * alpha + p.sum(-1, keepdim=True)).to(kept).to(acc)
        out = (out.to(acc) * alpha + p @ vv[:, :, start:start + block]).to(running)
        m = new
    result = torch.where(total > 0, out.to(acc) / total, torch.zeros_like(total)).to(q.dtype)
    if return_lse:
        return result, (m + torch.log(total)).squeeze(-1)
    return result


# ---------------------------------------------------------------------------------------------
# Numerics of the softmax


@declare()
def no_max_subtraction(q, k, v, **kw):
    """Softmax without subtracting the row maximum: exp overflows to inf for logits past ~88
    (float32) or ~11 (float16) and the output turns NaN. Caught by output_matches_oracle."""
    return _dense(q, k, v, subtract_max=False, **kw)


@declare()
def half_precision_accumulation(q, k, v, **kw):
    """Scores, softmax and sums kept in the input dtype (float16/bfloat16) instead of float32,
    as a naive `softmax(q @ k.T) @ v` does. Caught by output_matches_oracle."""
    return _dense(q, k, v, acc=torch.float16 if q.dtype == torch.float16 else q.dtype, **kw)


@declare(dtypes=["float32", "float64"])
def bf16_running_output(q, k, v, **kw):
    """Online softmax whose running output is stored in bfloat16 between key tiles (a
    scratch buffer allocated in the wrong dtype). Caught by output_matches_oracle."""
    return _tiled(q, k, v, acc_dtype=torch.bfloat16, **kw)


@declare(dtypes=["bfloat16"])
def bf16_kernel_bf16_running_output(q, k, v, **kw):
    """A bfloat16 kernel (float32 scores and softmax) whose running output is stored in
    bfloat16 between 64-key tiles: its error grows with the row. Caught by
    output_matches_oracle."""
    return _tiled(q, k, v, block=64, acc_dtype=torch.bfloat16, **kw)


@declare()
def missing_rescale(q, k, v, **kw):
    """Online softmax that forgets to rescale the running output and normaliser by
    exp(m_old - m_new) when the maximum grows. Caught by output_matches_oracle."""
    return _tiled(q, k, v, rescale=False, **kw)


@declare()
def dropped_tail_tile(q, k, v, **kw):
    """Tiled loop over range(0, Lk - Lk % block, block): the last partial tile of keys is
    never read when Lk is not a multiple of 16. Caught by output_matches_oracle."""
    return _tiled(q, k, v, drop_tail=True, **kw)


@declare(dtypes=["float32", "float64"])
def denominator_epsilon(q, k, v, **kw):
    """Adds 1e-6 to the softmax denominator "for safety": a relative error of 1e-6 / l that
    only a tight budget sees in float32. Caught by output_matches_oracle."""
    return _dense(q, k, v, eps=1e-6, **kw)


# ---------------------------------------------------------------------------------------------
# Masks and positions


@declare()
def causal_top_left_declared_bottom_right(q, k, v, **kw):
    """Implements PyTorch's top-left causal mask (j <= i) but declares FlashAttention's
    bottom-right alignment: wrong whenever Lq != Lk. Caught by output_matches_oracle and
    causal_alignment_as_declared (which names the alignment it follows)."""
    return _dense(q, k, v, top_left=True, **kw)


@declare()
def finite_mask_fill(q, k, v, **kw):
    """Masked scores filled with -1e4 instead of -inf: hidden keys come back when the visible
    scores are below -1e4, or a row is fully masked. Caught by output_matches_oracle and
    empty_rows_as_declared."""
    return _dense(q, k, v, fill=-1e4, **kw)


@declare()
def window_off_by_one(q, k, v, **kw):
    """Sliding window whose left edge is exclusive (j > i - left instead of >=). Caught by
    output_matches_oracle."""
    return _dense(q, k, v, window_exclusive=True, **kw)


@declare(empty_rows="zero")
def nan_on_empty_rows(q, k, v, **kw):
    """Returns 0/0 = NaN on rows with no visible key while declaring 'zero'. Caught by
    empty_rows_as_declared."""
    return _dense(q, k, v, empty_nan=True, **kw)


@declare()
def reads_one_token_ahead(q, k, v, **kw):
    """Causal limit j <= i + Lk - Lq + 1: each row also reads the next token. Caught by
    output_matches_oracle and no_future_leak."""
    return _dense(q, k, v, causal_lookahead=1, **kw)


@declare()
def long_path_reads_its_diagonal_tile(q, k, v, **kw):
    """From 1024 keys on, a long-context path decides causality per 128-key tile (a tile is
    read when its first key is visible), so each row also reads the rest of its diagonal tile:
    up to 127 future tokens. The oracle comparisons' shapes (at most 511 keys at ci) never
    take that path; caught by no_future_leak, which draws rows of 1021..4099 keys."""
    return _dense(q, k, v, causal_tile=128 if k.shape[2] >= 1024 else 0, **kw)


@declare()
def mask_ignores_heads(q, k, v, mask=None, **kw):
    """Reads only the first head's mask (mask[:, :1]) as if masks never varied by head.
    Caught by output_matches_oracle."""
    if mask is not None and mask.dim() == 4:
        mask = mask[:, :1]
    return _dense(q, k, v, mask=mask, **kw)


# ---------------------------------------------------------------------------------------------
# ALiBi, softcap, scale


@declare()
def alibi_slopes_reversed(q, k, v, **kw):
    """Applies the ALiBi slopes in reverse head order. Caught by output_matches_oracle."""
    return _dense(q, k, v, slope_order=-1, **kw)


@declare()
def alibi_sign_flipped(q, k, v, **kw):
    """Adds +slope * distance: distant keys are favoured. Caught by output_matches_oracle."""
    return _dense(q, k, v, alibi_sign=+1, **kw)


@declare()
def alibi_without_offset(q, k, v, **kw):
    """ALiBi distance |i - j| without the Lk - Lq offset: wrong in decode and whenever
    Lq != Lk. Caught by output_matches_oracle."""
    return _dense(q, k, v, alibi_offset=False, **kw)


@declare()
def softcap_after_bias(q, k, v, **kw):
    """Applies softcap to score + ALiBi bias instead of before the bias. Caught by
    output_matches_oracle."""
    return _dense(q, k, v, softcap_after_bias=True, **kw)


@declare()
def ignores_scale(q, k, v, **kw):
    """Accepts scale= and always uses 1/sqrt(D). Caught by output_matches_oracle,
    query_scaling_equals_scale and option_sensitivity."""
    return _dense(q, k, v, ignore_scale=True, **kw)


# ---------------------------------------------------------------------------------------------
# Shapes, heads, memory


@declare()
def gqa_modulo_heads(q, k, v, **kw):
    """Maps query head h to kv head h % Hk instead of h // (Hq / Hk). Caught by
    output_matches_oracle whenever 1 < Hk < Hq."""
    return _dense(q, k, v, gqa_modulo=True, **kw)


@declare()
def assumes_contiguous(q, k, v, **kw):
    """Reinterprets each input's storage as if it were contiguous (a raw-pointer kernel that
    ignores strides and storage offsets). Caught by output_matches_oracle on transposed and
    offset views."""

    def raw(t):
        flat = t.untyped_storage()
        base = torch.empty(0, dtype=t.dtype, device=t.device).set_(flat)
        return base[: t.numel()].view(t.shape)

    return _dense(raw(q), raw(k), raw(v), **kw)


@declare()
def assumes_dv_equals_d(q, k, v, **kw):
    """Sizes its output with D instead of Dv, as kernels written for Dv == D do (values
    beyond D are dropped, or padding appears). Caught by output_shape_dtype_device."""
    out = _dense(q, k, v, **kw)
    res, lse = out if isinstance(out, tuple) else (out, None)
    D, Dv = q.shape[-1], v.shape[-1]
    if Dv > D:
        res = res[..., :D]
    elif Dv < D:
        res = torch.nn.functional.pad(res, (0, D - Dv))
    return (res, lse) if lse is not None else res


@declare()
def output_in_float32(q, k, v, **kw):
    """Returns the float32 accumulator without casting back to the input dtype. Caught by
    output_shape_dtype_device."""
    return _dense(q, k, v, out_dtype=torch.promote_types(q.dtype, torch.float32), **kw)


@declare()
def lse_in_base_two(q, k, v, **kw):
    """Returns log2 sum exp (the exp2-based kernels' internal LSE) as the LSE. Caught by
    lse_matches_oracle."""
    return _dense(q, k, v, lse_base2=True, **kw)


@declare()
def batch_shares_row_max(q, k, v, **kw):
    """Subtracts one maximum shared by the whole batch instead of each row's own: rows whose
    scores sit far below another batch entry's underflow to 0/0. Caught by
    output_matches_oracle and batch_and_head_independence."""
    kw.pop("return_lse", None)
    acc = torch.promote_types(q.dtype, torch.float32)
    s = _scores(q, k, kw.get("scale"), kw.get("softcap"), kw.get("alibi_slopes"), acc=acc)
    vis = _visible(q.shape[2], k.shape[2], kw.get("causal", False), kw.get("window"),
                   kw.get("mask"), q.device)
    s = s.masked_fill(~vis, float("-inf"))
    finite = torch.where(torch.isfinite(s), s, torch.full_like(s, float("-inf")))
    p = torch.exp(s - finite.amax())
    vv = v.repeat_interleave(q.shape[1] // v.shape[1], dim=1).to(acc)
    total = p.sum(-1, keepdim=True)
    return torch.where(total > 0, (p @ vv) / total, torch.zeros_like(total)).to(q.dtype)


batch_shares_row_max.attnspec = {**FULL, "lse": False}


# ---------------------------------------------------------------------------------------------
# Hygiene and hostile behaviour


@declare()
def scales_q_in_place(q, k, v, scale=None, **kw):
    """Multiplies q by the scale in place to save memory, then computes with scale 1.
    Correct output, corrupted caller tensor. Caught by inputs_unchanged."""
    q.mul_(1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    return _dense(q, k, v, scale=1.0, **kw)


@declare()
def nondeterministic_split(q, k, v, **kw):
    """Splits the keys at a random point and merges the halves (a split-KV kernel whose split
    depends on a race): the result's low bits change from call to call. Caught by
    deterministic."""
    Lk = k.shape[2]
    if Lk < 2 or kw.get("causal") or kw.get("window") or kw.get("alibi_slopes") is not None:
        return _dense(q, k, v, **kw)
    want_lse = kw.pop("return_lse", False)
    t = int(torch.randint(1, Lk, (1,)))
    mask = kw.pop("mask", None)
    parts = []
    for sl in (slice(0, t), slice(t, Lk)):
        m = None if mask is None else mask[..., sl]
        parts.append(_dense(q, k[:, :, sl], v[:, :, sl], mask=m, return_lse=True, **kw))
    (o1, l1), (o2, l2) = parts
    lse = torch.logaddexp(l1, l2)
    w1 = torch.nan_to_num(torch.exp(l1 - lse))[..., None]
    w2 = torch.nan_to_num(torch.exp(l2 - lse))[..., None]
    out = (w1 * o1.to(w1.dtype) + w2 * o2.to(w2.dtype)).to(q.dtype)
    return (out, lse) if want_lse else out


@declare()
def raises_on_odd_lengths(q, k, v, **kw):
    """Asserts Lk % 2 == 0 (a vectorised load that needs pairs). Caught by every property
    as 'kernel raised'."""
    if k.shape[2] % 2:
        raise ValueError("kv length must be even")
    return _dense(q, k, v, **kw)


@declare()
def hangs_on_decode(q, k, v, **kw):
    """Spins forever when Lq == 1 (a decode path waiting on a barrier that never comes).
    Caught as 'kernel hung' (per-call timeout)."""
    if q.shape[2] == 1:
        while True:
            time.sleep(0.05)
    return _dense(q, k, v, **kw)


@declare()
def nan_for_long_rows(q, k, v, **kw):
    """Returns NaN for rows longer than 48 keys (an uninitialised shared-memory buffer past
    its first 48 slots). Caught by output_matches_oracle."""
    out = _dense(q, k, v, **kw)
    if k.shape[2] > 48:
        res, lse = out if isinstance(out, tuple) else (out, None)
        res = res.clone()
        res[..., 0] = float("nan")
        return (res, lse) if lse is not None else res
    return out


# ---------------------------------------------------------------------------------------------
# Past the short path: rows of up to 128 keys take a one-tile path (a "short sequence" kernel
# with BLOCK_N = 128), longer rows a loop over 64-key tiles. Before the cover
# (properties/attention/cover.py), ci drew no key length past 69 in an oracle comparison and
# none past 128 in the determinism check: all three passed it (docs/coverage.md).

SHORT_PATH, TILE = 128, 64


@declare()
def drops_tail_tile_past_the_short_path(q, k, v, **kw):
    """Rows of more than 128 keys loop over Lk // 64 tiles (floor, not ceil): the last partial
    tile is never read. Caught by output_matches_oracle at the cover's Lk = 129, 255, 257..."""
    if k.shape[2] <= SHORT_PATH:
        return _dense(q, k, v, **kw)
    return _tiled(q, k, v, block=TILE, drop_tail=True, **kw)


@declare()
def unmasked_tail_padding(q, k, v, *, causal=False, return_lse=False, **kw):
    """Rows of more than 128 keys load the last partial 64-key tile padded with zero keys and
    values and do not mask the padding (a Triton load with other=0 and no j < Lk test): each
    padded key scores 0 and adds e^0 to the normaliser. The causal test happens to hide it.
    Caught by output_matches_oracle at the cover's Lk = 129, 255, 257..."""
    out, lse = _dense(q, k, v, causal=causal, return_lse=True, **kw)
    pad = -k.shape[2] % TILE
    if k.shape[2] > SHORT_PATH and pad and not causal:
        wrong = torch.logaddexp(lse, torch.full_like(lse, math.log(pad)))
        out = (out.to(lse.dtype) * torch.exp(lse - wrong)[..., None]).to(q.dtype)
        lse = wrong
    return (out, lse) if return_lse else out


@declare()
def nondeterministic_past_the_short_path(q, k, v, **kw):
    """Rows of more than 128 keys are split across workers at a point that depends on a race
    (nondeterministic_split); shorter rows are deterministic. Caught by deterministic at the
    cover's Lk = 129, 255, 257, 383, 511."""
    if k.shape[2] <= SHORT_PATH:
        return _dense(q, k, v, **kw)
    return nondeterministic_split(q, k, v, **kw)


ZOO = [
    no_max_subtraction, half_precision_accumulation, bf16_running_output,
    bf16_kernel_bf16_running_output, missing_rescale,
    dropped_tail_tile, denominator_epsilon, causal_top_left_declared_bottom_right,
    finite_mask_fill, window_off_by_one, nan_on_empty_rows, reads_one_token_ahead,
    long_path_reads_its_diagonal_tile, mask_ignores_heads,
    alibi_slopes_reversed, alibi_sign_flipped, alibi_without_offset, softcap_after_bias,
    ignores_scale, gqa_modulo_heads, assumes_contiguous, assumes_dv_equals_d,
    output_in_float32, lse_in_base_two, batch_shares_row_max, scales_q_in_place,
    nondeterministic_split, raises_on_odd_lengths, hangs_on_decode, nan_for_long_rows,
    drops_tail_tile_past_the_short_path, unmasked_tail_padding,
    nondeterministic_past_the_short_path,
]


# ---------------------------------------------------------------------------------------------
# Long rows: bugs whose error grows with the number of keys. Declared for half precision, where
# the budget is wide enough that short rows cannot show them; `attnspec check --profile long`
# (contexts of 1e4..1e6 keys) catches them (tests/zoo/test_long_rows.py).


@declare(dtypes=["float16", "bfloat16"], rounds_p=True)
def normaliser_in_bfloat16(q, k, v, **kw):
    """Keeps the running softmax normaliser in bfloat16 between 1024-key tiles: once it is
    large, each tile's contribution is rounded to 8 bits of the total and mass is lost."""
    return _tiled(q, k, v, block=1024, total_dtype=torch.bfloat16, **kw)


@declare(dtypes=["float16", "bfloat16"], rounds_p=True)
def flushes_tiny_weights(q, k, v, **kw):
    """Drops weights below 2^-20 of the row's maximum (a sparsity shortcut): harmless on short
    rows, a large loss of mass over a million keys."""
    return _tiled(q, k, v, block=4096, flush_below=2.0**-20, **kw)


LONG_ROW_ZOO = [normaliser_in_bfloat16, flushes_tiny_weights]  # (bf16 running output: ZOO)


# ---------------------------------------------------------------------------------------------
# Controls: the same dense and tiled code with no bug injected. They must pass, which shows
# that each catch above is the injected bug and not the zoo's own scaffolding.


@declare()
def control_dense(q, k, v, **kw):
    """The zoo's dense base, no bug."""
    return _dense(q, k, v, **kw)


@declare()
def control_tiled(q, k, v, **kw):
    """The zoo's tiled base (16-key tiles), no bug."""
    return _tiled(q, k, v, **kw)


CONTROLS = [control_dense, control_tiled]
