"""The per-row certificate of the positional-LSH estimator, from the sampled blocks and the inputs.

Notation (one head of slope m, rho = e^-m; row i at position p; V_i its visible keys: all keys,
or j <= p under causal; W_ij = exp(scale q_i.k_j); Mbar the mean of the s masks; P_ij = rho^|p-j|;
E = Mbar - P on V_i; X = sum_j W_ij Mbar_ij (the estimate of the normaliser), Y = sum_j W_ij P_ij
(the exact ALiBi normaliser); ytilde the estimator, y exact ALiBi attention):

Claim [D] (error identity, docs/claims.md section 2): ytilde - y = sum_j W E (v_j - y) / X
(since sum_j W P (v_j - y) = 0), and symmetrically y - ytilde = -sum_j W E (v_j - ytilde) / Y.
y and ytilde are convex combinations of the v_j, so |v_jd - y_d| <= max_j v_jd - min_j v_jd, and
W_ij / W_ik <= e^(R_i) with R_i the score range of the row, hence per value dim d

    |ytilde_d - y_d| <= diam(V) e^(R_i) min(kappa_i, kappa'_i),
    kappa_i = sum_j |E_ij| / sum_j Mbar_ij,   kappa'_i = sum_j |E_ij| / sum_j P_ij.

lse [D]: |X - Y| <= max_j W sum_j |E| while X >= min_j W sum_j Mbar and Y >= min_j W sum_j P, so
|X - Y| / X <= u := e^(R_i) kappa_i and |X - Y| / Y <= u' := e^(R_i) kappa'_i; then
Y / X in [1 - u, 1 + u] and X / Y in [1 - u', 1 + u'], and with t = min(u, u') < 1

    |log X - log Y| <= max(log(1 + t), -log(1 - t)) = -log(1 - t)   (inf when t >= 1).

What is computed, per row, with no O(n^2) work:

- sum_j Mbar_ij, sum_j P_ij and sum_j |Mbar_ij - P_ij| EXACTLY in O(s log s) per row [D]. On the
  right of p, Mbar at distance d is (1/s) #{draws whose block of p reaches p + d}: a step function
  with at most s steps at the sorted block ends; on each step it is a constant c, and
  sum_{d=a..b} |c - rho^d| is a closed form (rho^d crosses c once, at d* = ln(c) / ln(rho); each
  side is c x count minus a geometric sum (rho^a - rho^(b+1)) / (1 - rho)). The left side is the
  same with block starts. The visible range clips d (keys 0..Lk-1; causal: no right side).
- diam(V) = max over value dims of (max - min) of v over the visible keys EXACTLY (prefix
  extrema under causal).
- R_i is NOT the exact score range (that is O(n) per row, O(n^2) in all) but an upper bound [D]:
  R_i <= |scale| min( sum_d |q_id| (max_j k_jd - min_j k_jd),  2 |q_i| max_j |k_j - c| ) over
  the visible keys, c the mean of all keys of the head: q.(k_j - k_l) <= sum_d |q_d| |k_jd - k_ld|
  (the box bound), and |q.(k_j - k_l)| <= |q| (|k_j - c| + |k_l - c|) (the ball bound).

Rows whose estimator is empty (X = 0, no sampled block meets a visible key) while the exact row
is not get an infinite certificate; rows with no visible key at all get 0 (both are "zero" rows).
Everything is float64; its own rounding (about n ulps of the sums) is far below any output's.
"""

from __future__ import annotations

import math

import torch


def _geometric(m: float, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum_{d=a..b} e^(-m d) for integer float64 tensors a, b (0 where a > b)."""
    denom = -math.expm1(-m)
    s = (torch.exp(-m * a) - torch.exp(-m * (b + 1))) / denom
    return torch.where(a <= b, s, torch.zeros_like(s))


def _abs_gap_sum(m: float, c: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum_{d=a..b} |c - e^(-m d)| in closed form (0 where a > b); c in [0, 1]."""
    crossing = torch.where(c > 0, -torch.log(c.clamp_min(1e-300)) / m, torch.full_like(c, float("inf")))
    dc = torch.minimum(torch.maximum(torch.floor(crossing), a - 1), b)  # rho^d >= c for d <= dc
    above = (_geometric(m, a, dc) - c * (dc - a + 1)).clamp_min(0)
    below = (c * (b - dc) - _geometric(m, dc + 1, b)).clamp_min(0)
    return torch.where(a <= b, above + below, torch.zeros_like(c))


def _side_sums(m: float, extent: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor):
    """One side of a row: distances d in [lo, hi]; ``extent`` [rows, s] = how far each draw's
    block reaches from the row on this side. Returns (sum Mbar, sum P, sum |Mbar - P|), [rows]."""
    s = extent.shape[1]
    e = torch.sort(extent.to(torch.float64), dim=1).values
    minus_one = torch.full_like(e[:, :1], -1.0)
    inf = torch.full_like(e[:, :1], float("inf"))
    seg_lo = torch.cat([minus_one, e], dim=1) + 1  # [rows, s+1]: segment k is (e_(k), e_(k+1)]
    seg_hi = torch.cat([e, inf], dim=1)
    level = (s - torch.arange(s + 1, dtype=torch.float64, device=e.device)) / s  # [s+1]
    a = torch.maximum(seg_lo, lo[:, None])
    b = torch.minimum(seg_hi, hi[:, None])
    count = (b - a + 1).clamp_min(0)
    level = level.expand_as(a)
    sum_mbar = (level * count).sum(1)
    sum_p = _geometric(m, lo, hi)
    sum_abs = _abs_gap_sum(m, level, a, b).sum(1)
    return sum_mbar, sum_p, sum_abs


def kappa_parts(ids: torch.Tensor, slope: float, Lq: int, Lk: int, causal: bool):
    """Exact (sum_j Mbar_ij, sum_j P_ij, sum_j |Mbar_ij - P_ij|), each float64[Lq], over the
    visible keys of each query row, for the draws ids int64[s, n] (n = max(Lq, Lk))."""
    n = ids.shape[1]
    k_first, q_first = n - Lk, n - Lq
    start = torch.searchsorted(ids, ids, right=False)  # [s, n]
    end = torch.searchsorted(ids, ids, right=True) - 1
    u = torch.arange(q_first, n, device=ids.device)  # positions of the query rows
    uf = u.to(torch.float64)
    right_extent = (end[:, u] - u[None, :]).T  # [Lq, s]
    left_extent = (u[None, :] - start[:, u]).T
    # right side: keys u + d, d >= 0, key position >= k_first and <= n - 1 (causal: d = 0 only)
    r_lo = torch.clamp(k_first - uf, min=0.0)
    r_hi = torch.zeros_like(uf) if causal else (n - 1) - uf
    # left side: keys u - d, d >= 1, key position >= k_first
    l_lo = torch.ones_like(uf)
    l_hi = uf - k_first
    parts_r = _side_sums(slope, right_extent, r_lo, r_hi)
    parts_l = _side_sums(slope, left_extent, l_lo, l_hi)
    return tuple(x + y for x, y in zip(parts_r, parts_l))


def _prefix_or_global(x: torch.Tensor, causal: bool, reduce: str) -> torch.Tensor:
    """x [B, Lk, F] -> extreme over keys: [B, Lk, F] prefix (causal) or [B, 1, F] global."""
    if causal:
        return (torch.cummax if reduce == "max" else torch.cummin)(x, dim=1).values
    return (x.amax if reduce == "max" else x.amin)(dim=1, keepdim=True)


def _row_gather(t: torch.Tensor, Lq: int, Lk: int, causal: bool):
    """Per query row, the extreme over its visible keys; rows with none get index 0 (masked later)."""
    if not causal:
        return t.expand(t.shape[0], Lq, t.shape[2])
    last_key = torch.arange(Lq, device=t.device) + (Lk - Lq)
    return t[:, last_key.clamp(0, Lk - 1)]


def score_range_bound(q, k, scale: float, causal: bool) -> torch.Tensor:
    """float64 [B, Lq]: an upper bound on max_j s_ij - min_j s_ij over the visible keys (box and
    ball bounds, module docstring). q [B, Lq, D], k [B, Lk, D]."""
    q64, k64 = q.to(torch.float64), k.to(torch.float64)
    Lq, Lk = q.shape[1], k.shape[1]
    width = (_row_gather(_prefix_or_global(k64, causal, "max"), Lq, Lk, causal)
             - _row_gather(_prefix_or_global(k64, causal, "min"), Lq, Lk, causal))  # [B, Lq, D]
    box = (q64.abs() * width).sum(-1)
    centre = k64.mean(dim=1, keepdim=True)
    radius = _row_gather(_prefix_or_global((k64 - centre).norm(dim=-1, keepdim=True), causal, "max"),
                         Lq, Lk, causal)[..., 0]
    ball = 2 * q64.norm(dim=-1) * radius
    return abs(scale) * torch.minimum(box, ball)


def value_diameter(v, Lq: int, causal: bool) -> torch.Tensor:
    """float64 [B, Lq]: max over value dims of (max - min) of v over each row's visible keys."""
    v64 = v.to(torch.float64)
    Lk = v.shape[1]
    spread = (_row_gather(_prefix_or_global(v64, causal, "max"), Lq, Lk, causal)
              - _row_gather(_prefix_or_global(v64, causal, "min"), Lq, Lk, causal))
    return spread.amax(dim=-1)


def row_certificate(q, k, v, ids, slope: float, *, scale: float, causal: bool):
    """(out bound, lse bound), float64 [B, Lq] each, finite, for one head: q [B, Lq, D],
    k [B, Lk, D], v [B, Lk, Dv], ids int64[s, n]. See the module docstring for the derivation.
    Rows whose estimator is empty get 0: the kernel computes them exactly (positional_lsh.py)."""
    Lq, Lk = q.shape[1], k.shape[1]
    sum_mbar, sum_p, sum_abs = kappa_parts(ids, slope, Lq, Lk, causal)  # [Lq]
    estimated = (sum_p > 0) & (sum_mbar > 0)  # rows the estimator serves
    tiny = 1e-300
    kappa = sum_abs / sum_mbar.clamp_min(tiny)
    kappa_p = sum_abs / sum_p.clamp_min(tiny)
    kappa_min = torch.where(estimated, torch.minimum(kappa, kappa_p), torch.zeros_like(kappa))  # [Lq]
    score_range = score_range_bound(q, k, scale, causal)  # [B, Lq]
    growth = torch.exp(score_range)  # may be inf
    t = torch.where(kappa_min > 0, growth * kappa_min, torch.zeros_like(growth))
    diam = value_diameter(v, Lq, causal)
    # |ytilde - y| <= diam: both are convex combinations of the visible v_j (and diam = 0 means
    # every visible v_j is the same vector, so the error is 0 whatever t is)
    out_bound = torch.where(t > 0, torch.minimum(diam * t.clamp(max=1.0), diam), torch.zeros_like(t))
    # |log X - log Y| <= -log(1 - t) (t < 1), and always <= R + |log sum Mbar - log sum P|, since
    # log X lies in [min s + log sum Mbar, max s + log sum Mbar] and log Y likewise with P
    crude = score_range + (torch.log(sum_mbar.clamp_min(tiny)) - torch.log(sum_p.clamp_min(tiny))).abs()
    below_one = t < 1
    fine = torch.where(below_one, -torch.log1p(-torch.where(below_one, t, torch.zeros_like(t))),
                       torch.full_like(t, float("inf")))
    lse_bound = torch.where(t > 0, torch.minimum(fine, crude), torch.zeros_like(t))
    keep = estimated[None, :]
    return torch.where(keep, out_bound, torch.zeros_like(out_bound)), torch.where(keep, lse_bound, torch.zeros_like(lse_bound))
