"""Positional-LSH ALiBi attention: the ratio estimator over s sampled block masks per head.

Claim [P][D] (docs/claims.md section 2; docs/positional-lsh-kernel.md): with masks M^1..M^s
drawn per head from that head's slope (E[M] = P = exp(ALiBi bias)), the estimator

    y_i = sum_j A_ij Mbar_ij v_j / sum_j A_ij Mbar_ij,   A = exp(scale q k^T),  Mbar = mean M^t,

is computed as plain attention inside each block of each draw (causal inside blocks for causal
ALiBi), block by block (blockwise.py), and the draws merged with log-sum-exp weights; its lse
log sum_j A_ij Mbar_ij estimates the ALiBi lse log sum_j A_ij P_ij. The expected work per draw
and head is (D + Dv) 1^T P 1, about 2 (D + Dv) n / m: near linear in n. Without alibi_slopes it
is plain attention (one block holding everything). Without causal and with Lq > Lk, a query
row before the first key whose sampled blocks hold no key (an empty estimator) is computed
exactly. On request it returns the per-row
certificate of certificate.py, a bound on |y - exact ALiBi attention| (and on the lse) that
holds for every input, computed from the sampled masks and the inputs in O(n (s log s + D)).

Layout [B, H, L, D]; GQA when Hq is a multiple of Hk; the key positions are 0..Lk-1 and query
row i sits at i + Lk - Lq (bottom-right). Masks are shared across the batch and drawn on the CPU
from ``seed`` (sampler.py), so results do not depend on the device, and no device is hard-coded.
"""

from __future__ import annotations

import math

import torch

from attnspec.kernels.alibi_lsh.blockwise import blocks_attention, merge_all, merge_draws
from attnspec.kernels.alibi_lsh.certificate import row_certificate
from attnspec.kernels.alibi_lsh.sampler import sample_block_ids

DEFAULT_SAMPLES = 16
DEFAULT_SCHEME = "binning"  # measured: equal error, less padded work than gap cuts (docs/positional-lsh-kernel.md)
DRAW_BUFFER_ELEMENTS = 1 << 24  # per-draw outputs held at once before their merge (64 MiB in float32)


def positional_lsh_attention(
    q,  # [B, Hq, Lq, D]
    k,  # [B, Hk, Lk, D]
    v,  # [B, Hk, Lk, Dv]
    *,
    causal=False,
    alibi_slopes=None,  # [Hq] or None (plain attention)
    scale=None,
    return_lse=False,
    return_certificate=False,
    samples=DEFAULT_SAMPLES,
    seed=0,
    scheme=DEFAULT_SCHEME,
):
    """out [B, Hq, Lq, Dv] in q's dtype, then lse [B, Hq, Lq] if return_lse, then the certificate
    dict {"out": [B, Hq, Lq], "lse": [B, Hq, Lq] (with return_lse)} (float64) if asked."""
    B, Hq, Lq, D = q.shape
    Hk, Lk, Dv = k.shape[1], k.shape[2], v.shape[3]
    if Hq % Hk != 0:
        raise ValueError(f"Hq = {Hq} is not a multiple of Hk = {Hk}")
    group = Hq // Hk
    scale = 1.0 / math.sqrt(D) if scale is None else float(scale)
    working = torch.float64 if q.dtype == torch.float64 else torch.float32
    n = max(Lq, Lk)
    device = q.device

    out = torch.empty((B, Hq, Lq, Dv), dtype=q.dtype, device=device)
    lse = torch.empty((B, Hq, Lq), dtype=torch.float32 if working == torch.float32 else working, device=device)
    cert_out = torch.zeros((B, Hq, Lq), dtype=torch.float64, device=device)
    cert_lse = torch.zeros((B, Hq, Lq), dtype=torch.float64, device=device)

    if alibi_slopes is None:
        ids = None
    else:
        slopes = [float(m) for m in alibi_slopes.detach().to("cpu", torch.float64).tolist()]
        if len(slopes) != Hq:
            raise ValueError(f"alibi_slopes has {len(slopes)} entries, expected Hq = {Hq}")
        ids = sample_block_ids(n, slopes, samples, seed=seed, scheme=scheme).to(device)  # [Hq, s, n]

    for h in range(Hq):
        g = h // group
        qh = q[:, h].to(working)  # [B, Lq, D]
        kh = k[:, g].to(working)  # [B, Lk, D]
        vh = v[:, g].to(working)  # [B, Lk, Dv]
        draws = (torch.zeros((1, n), dtype=torch.int64, device=device) if ids is None else ids[h])
        acc = torch.zeros((B, Lq, Dv), dtype=working, device=device)
        acc_lse = torch.full((B, Lq), float("-inf"), dtype=working, device=device)
        # draws in chunks whose per-draw outputs [c, B, Lq, Dv] stay within DRAW_BUFFER_ELEMENTS
        chunk = max(1, DRAW_BUFFER_ELEMENTS // max(B * Lq * (Dv + 1), 1))
        for t0 in range(0, draws.shape[0], chunk):
            o_t, l_t = blocks_attention(qh, kh, vh, draws[t0:t0 + chunk], scale=scale, causal=causal)
            acc, acc_lse = merge_draws(acc, acc_lse, *merge_all(o_t, l_t))
        acc_lse = acc_lse - math.log(draws.shape[0])
        if ids is not None and not causal and Lq > Lk:
            _exact_rows_before_the_first_key(qh, kh, vh, acc, acc_lse, slopes[h], scale)
        out[:, h] = acc.to(q.dtype)
        lse[:, h] = acc_lse.to(lse.dtype)
        if return_certificate and ids is not None:
            c_out, c_lse = row_certificate(qh, kh, vh, ids[h], slopes[h], scale=scale, causal=causal)
            steps = -(-draws.shape[0] // chunk) + 1  # the chunk merges, and the final - log s
            r_out, r_lse = merge_rounding(acc_lse, vh, steps, draws.shape[0], working)
            cert_out[:, h], cert_lse[:, h] = c_out + r_out, c_lse + r_lse

    result = (out, lse) if return_lse else (out,)
    if return_certificate:
        certificate = {"out": cert_out}
        if return_lse:
            certificate["lse"] = cert_lse
        result = result + (certificate,)
    return result[0] if len(result) == 1 else result


def merge_rounding(lse, v, steps: int, draws: int, working) -> tuple[torch.Tensor, torch.Tensor]:
    """What the merge's own rounding may add to out and lse [B, Lq] (float64), beyond the
    rounding a plain kernel has (which the contract's budget already allows).

    Each of the ``steps`` merges rounds the running lse at its own magnitude: a relative error
    of u (|lse| + log s) shared by every weight e^(lse_t - lse), plus a few u from the exp and the
    subtraction; a draw's own lse_t carries u |lse_t| but enters with weight w_t, and
    sum_t w_t |lse_t - lse| <= 1/e. So every weight is off by a factor within e^(+-rho),
    rho = u steps (|lse| + log s + 8), which moves out by at most (e^rho - 1) max|v| and lse by
    rho. Measured before this term: one key at score 40 in float32 came back 1.19e-6 off
    (3.8x the budget; the approximation itself is exact there)."""
    u = torch.finfo(working).eps / 2
    rho = u * steps * (lse.to(torch.float64).abs() + math.log(draws) + 8.0)  # [B, Lq]
    rho = torch.where(torch.isfinite(rho), rho, torch.zeros_like(rho))  # empty rows: no merge
    v_max = v.to(torch.float64).abs().amax(dim=(1, 2))[:, None]  # [B, 1]
    return torch.expm1(rho) * v_max, rho


def _exact_rows_before_the_first_key(q, k, v, out, lse, slope, scale):
    """Without causal and with Lq > Lk, a query row i < Lq - Lk sits before the first key; if no
    draw's block of its position meets a key, the estimator is empty (0 / 0) while exact ALiBi
    attention is not. Such rows (found from lse = -inf) are computed exactly, in place:
    q [B, Lq, D], k [B, Lk, D], v [B, Lk, Dv], out [B, Lq, Dv], lse [B, Lq]."""
    Lq, Lk = q.shape[1], k.shape[1]
    rows = torch.nonzero(torch.isinf(lse[:, : Lq - Lk]).any(0)).flatten()
    if rows.numel() == 0:
        return
    position = (rows + (Lk - Lq)).to(q.dtype)  # [r], negative
    bias = -slope * (position[:, None] - torch.arange(Lk, device=q.device, dtype=q.dtype)[None, :]).abs()
    scores = scale * torch.matmul(q[:, rows], k.transpose(-1, -2)) + bias  # [B, r, Lk]
    lse[:, rows] = torch.logsumexp(scores, dim=-1)
    out[:, rows] = torch.matmul(torch.softmax(scores, dim=-1), v)


positional_lsh_attention.attnspec = {
    "dtypes": ["float16", "bfloat16", "float32", "float64"],
    "devices": ["cpu", "cuda"],
    "causal": "bottom_right",
    "alibi": True,
    "gqa": True,
    "lse": True,
    "approximation": "certificate",
}
