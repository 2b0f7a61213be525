"""Plain attention inside the blocks of one partition, computed block by block.

Claim [D]: for one mask M (a partition of the positions into contiguous blocks), the per-row
masked attention o_i = sum_j A_ij M_ij v_j / sum_j A_ij M_ij and lse_i = log sum_j A_ij M_ij
(A = exp(scale q k^T), over the visible keys: causal keeps j <= i inside the block) need only
the keys of the block that holds row i. Blocks (of all the draws of a chunk together) are
grouped by key count, sizes within a factor 2^(1/2) (``size_group``), and each group is padded
to its longest block, so the work is below 2 x the sum over blocks of (queries x keys) = 2 x the
sum of block sizes squared, whose expectation per draw is 1^T P 1 (docs/claims.md, section 2);
memory is bounded by ``tile_elements`` scores at once.

Positions: u in [0, n), n = max(Lq, Lk); key j = u - (n - Lk), query i = u - (n - Lq), so query
row i sits at key position i + Lk - Lq (the contract's bottom-right alignment).
"""

from __future__ import annotations

import torch

TILE_ELEMENTS = 1 << 23  # scores held at once (B x blocks x rows x keys): 32 MiB in float32


GROUPS_PER_OCTAVE = 2  # block sizes in one group differ by less than a factor 2^(1/2)


def size_group(length: torch.Tensor) -> torch.Tensor:
    """int64 group of each block size: ceil(2 log2 size), so that padding a group's blocks to its
    longest costs < (2^(1/2))^2 = 2 x their size^2 (rows and keys); size 0: group -1."""
    scaled = torch.ceil(GROUPS_PER_OCTAVE * torch.log2(length.clamp_min(1).to(torch.float64)))
    return torch.where(length > 0, scaled, torch.full_like(scaled, -1.0)).to(torch.int64)


def _block_table(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ids int64[c, n], each row nondecreasing from 0 -> (draw, start, length) int64[blocks]."""
    c, n = ids.shape
    offset = torch.cumsum(ids[:, -1] + 1, 0) - (ids[:, -1] + 1)  # [c] first flat id of each draw
    length = torch.bincount((ids + offset[:, None]).flatten())
    flat_start = torch.cumsum(length, 0) - length  # in the concatenation of the c draws
    keep = length > 0
    flat_start, length = flat_start[keep], length[keep]
    return flat_start // n, flat_start % n, length


def blocks_attention(
    q: torch.Tensor,  # [B, Lq, D] working dtype
    k: torch.Tensor,  # [B, Lk, D]
    v: torch.Tensor,  # [B, Lk, Dv]
    ids: torch.Tensor,  # int64[c, n] (c draws) or int64[n] (one), n = max(Lq, Lk), on q's device
    *,
    scale: float,
    causal: bool,
    tile_elements: int = TILE_ELEMENTS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(out [c, B, Lq, Dv], lse [c, B, Lq]) of attention restricted to the blocks of each draw
    (without the leading c for 1-D ids). A row whose block holds no visible key gets out = 0
    and lse = -inf. The blocks of all c draws are grouped together (fewer, larger tensor ops).
    """
    single = ids.dim() == 1
    ids = ids[None] if single else ids
    c, n = ids.shape
    B, Lq, _ = q.shape
    Lk, Dv = k.shape[1], v.shape[2]
    k_first, q_first = n - Lk, n - Lq  # first position holding a key, a query
    device, dtype = q.device, q.dtype
    out = torch.zeros((B, c * Lq, Dv), dtype=dtype, device=device)  # row draw * Lq + i
    lse = torch.full((B, c * Lq), float("-inf"), dtype=dtype, device=device)

    draw, start, length = _block_table(ids)
    end = start + length  # exclusive
    q_start = torch.clamp(start, min=q_first)
    q_len = end - q_start
    k_start = torch.clamp(start, min=k_first)
    k_len = torch.clamp(end - k_start, min=0)
    has_queries = q_len > 0
    draw, q_start, q_len, k_start, k_len = (t[has_queries] for t in (draw, q_start, q_len, k_start, k_len))
    if draw.numel() > 0:
        group = size_group(k_len)
        for g in torch.unique(group).tolist():
            members = torch.nonzero(group == g).flatten()
            wk = max(int(k_len[members].max()), 1)
            wq_all = int(q_len[members].max())
            # rows per tile so that B x blocks x rows x wk stays within tile_elements
            rows = max(1, min(wq_all, tile_elements // max(B * wk, 1)))
            blocks_per_tile = max(1, tile_elements // max(B * rows * wk, 1))
            for b0 in range(0, members.numel(), blocks_per_tile):
                sel = members[b0:b0 + blocks_per_tile]
                dr, ks, kl, qs, ql = draw[sel], k_start[sel], k_len[sel], q_start[sel], q_len[sel]
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
                    flat = (dr[:, None] * Lq + query_index)[query_ok]  # [rows kept]
                    out[:, flat] = o[:, query_ok]
                    lse[:, flat] = l[:, query_ok]
    out = out.view(B, c, Lq, Dv).transpose(0, 1)
    lse = lse.view(B, c, Lq).transpose(0, 1)
    return (out[0], lse[0]) if single else (out, lse)


def merge_all(out_t, lse_t):
    """Log-sum-exp merge of c draws at once: out_t [c, B, Lq, Dv], lse_t [c, B, Lq] ->
    (sum_t e^(lse_t) out_t / sum_t e^(lse_t), log sum_t e^(lse_t))."""
    total = torch.logsumexp(lse_t, dim=0)  # [B, Lq], -inf where every draw is empty
    safe = torch.where(torch.isfinite(total), total, torch.zeros_like(total))
    w = torch.where(torch.isfinite(total), torch.exp(lse_t - safe), torch.zeros_like(lse_t))
    return (w[..., None] * out_t).sum(0), total


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
