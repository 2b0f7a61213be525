"""Plain attention inside the blocks of one partition, computed block by block.

Claim [D]: for one mask M (a partition of the positions into contiguous blocks), the per-row
masked attention o_i = sum_j A_ij M_ij v_j / sum_j A_ij M_ij and lse_i = log sum_j A_ij M_ij
(A = exp(scale q k^T), over the visible keys: causal keeps j <= i inside the block) need only
the keys of the block that holds row i. Blocks are grouped by the power of two above their key
count and each group is padded to its longest block, so the work is at most about 4 x the sum
over blocks of (queries x keys) = 4 x sum of block sizes squared, whose expectation per draw is
1^T P 1 (docs/claims.md, section 2), and memory is bounded by ``tile_elements`` scores at once.

Positions: u in [0, n), n = max(Lq, Lk); key j = u - (n - Lk), query i = u - (n - Lq), so query
row i sits at key position i + Lk - Lq (the contract's bottom-right alignment).
"""

from __future__ import annotations

import torch

TILE_ELEMENTS = 1 << 23  # scores held at once (B x blocks x rows x keys): 32 MiB in float32


def _block_table(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ids int64[n] nondecreasing from 0 -> (start, length) int64[blocks]."""
    length = torch.bincount(ids)
    start = torch.cumsum(length, 0) - length
    keep = length > 0
    return start[keep], length[keep]


def blocks_attention(
    q: torch.Tensor,  # [B, Lq, D] working dtype
    k: torch.Tensor,  # [B, Lk, D]
    v: torch.Tensor,  # [B, Lk, Dv]
    ids: torch.Tensor,  # int64[n], n = max(Lq, Lk), on q's device
    *,
    scale: float,
    causal: bool,
    tile_elements: int = TILE_ELEMENTS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(out [B, Lq, Dv], lse [B, Lq]) of attention restricted to the blocks of ``ids``.

    A row whose block holds no visible key gets out = 0 and lse = -inf.
    """
    B, Lq, _ = q.shape
    Lk, Dv = k.shape[1], v.shape[2]
    n = ids.shape[0]
    k_first, q_first = n - Lk, n - Lq  # first position holding a key, a query
    device, dtype = q.device, q.dtype
    out = torch.zeros((B, Lq, Dv), dtype=dtype, device=device)
    lse = torch.full((B, Lq), float("-inf"), dtype=dtype, device=device)

    start, length = _block_table(ids)
    end = start + length  # exclusive
    q_start = torch.clamp(start, min=q_first)
    q_len = end - q_start
    k_start = torch.clamp(start, min=k_first)
    k_len = torch.clamp(end - k_start, min=0)
    has_queries = q_len > 0
    start, q_start, q_len, k_start, k_len = (
        t[has_queries] for t in (start, q_start, q_len, k_start, k_len))
    if start.numel() == 0:
        return out, lse
    # group by the power of two at or above the key count (0 keys: group 0)
    group = torch.where(k_len > 0, torch.ceil(torch.log2(k_len.clamp_min(1).to(torch.float64))), -1.0)
    group = group.to(torch.int64)
    for g in torch.unique(group).tolist():
        members = torch.nonzero(group == g).flatten()
        wk = max(int(k_len[members].max()), 1)
        wq_all = int(q_len[members].max())
        # rows per tile so that B x blocks x rows x wk stays within tile_elements
        rows = max(1, min(wq_all, tile_elements // max(B * wk, 1)))
        blocks_per_tile = max(1, tile_elements // max(B * rows * wk, 1))
        for b0 in range(0, members.numel(), blocks_per_tile):
            sel = members[b0:b0 + blocks_per_tile]
            ks, kl, qs, ql = k_start[sel], k_len[sel], q_start[sel], q_len[sel]
            key_pos = ks[:, None] + torch.arange(wk, device=device)  # [nb, wk]
            key_ok = torch.arange(wk, device=device)[None, :] < kl[:, None]
            key_index = (key_pos - k_first).clamp(0, Lk - 1)
            kb = k[:, key_index]  # [B, nb, wk, D]
            vb = v[:, key_index]  # [B, nb, wk, Dv]
            wq = int(ql.max())
            for r0 in range(0, wq, rows):
                r = torch.arange(r0, min(r0 + rows, wq), device=device)
                query_pos = qs[:, None] + r[None, :]  # [nb, rows]
                query_ok = r[None, :] < ql[:, None]
                query_index = (query_pos - q_first).clamp(0, Lq - 1)
                qb = q[:, query_index]  # [B, nb, rows, D]
                s = torch.matmul(qb, kb.transpose(-1, -2)) * scale  # [B, nb, rows, wk]
                allowed = key_ok[:, None, :]  # [nb, 1, wk]
                if causal:
                    allowed = allowed & (key_pos[:, None, :] <= query_pos[:, :, None])
                s = s.masked_fill(~allowed, float("-inf"))
                row_max = s.amax(dim=-1, keepdim=True)
                row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
                p = torch.exp(s - row_max)
                denom = p.sum(dim=-1)  # [B, nb, rows]
                o = torch.matmul(p, vb) / denom.clamp_min(torch.finfo(dtype).tiny)[..., None]
                l = row_max[..., 0] + torch.log(denom)  # -inf where no key is visible
                flat = query_index[query_ok]  # [rows kept]
                out[:, flat] = o[:, query_ok]
                lse[:, flat] = l[:, query_ok]
    return out, lse


def merge_draws(out_acc, lse_acc, out_t, lse_t):
    """Log-sum-exp merge of draw t into the running ratio estimator.

    With out = sum_t e^(lse_t) out_t / sum_t e^(lse_t) and lse = log sum_t e^(lse_t), both
    running: the ratio estimator sum_j A_ij Mbar_ij v_j / sum_j A_ij Mbar_ij [D] (not the
    average of normalised per-mask outputs, which is inconsistent).
    """
    new_lse = torch.logaddexp(lse_acc, lse_t)
    finite = torch.isfinite(new_lse)
    safe = torch.where(finite, new_lse, torch.zeros_like(new_lse))
    w_acc = torch.where(finite, torch.exp(lse_acc - safe), torch.zeros_like(new_lse))
    w_t = torch.where(finite, torch.exp(lse_t - safe), torch.zeros_like(new_lse))
    return w_acc[..., None] * out_acc + w_t[..., None] * out_t, new_lse
