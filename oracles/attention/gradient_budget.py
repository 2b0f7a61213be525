"""Per-element error budgets for the gradients dQ, dK, dV of attention kernels.

Claim (derived here; docs/error-budget.md "Gradients" has the derivation and the measured
separation): a backward pass that works in accumulation precision u_a on inputs of precision
u_in, whichever of the usual orders it takes (autograd through a dense forward; FlashAttention-2's
recompute of P from the stored LSE, with D from the stored output), returns dq, dk, dv with

    |dq - dQ| <= budget["dq"],  |dk - dK| <= budget["dk"],  |dv - dV| <= budget["dv"]

elementwise, to first order in the unit roundoffs, with second-order terms covered by
(1 + tau) factors. The events, per query head h, row i and key j (exact P, dP, D, dS, dR of
oracles/attention/gradient_problem.py, evaluated in float64 here; B_ij = sum_c |dO_ic| |V_jc|):

  P         recomputed as exp(s_ij - lse_i) or normalised as in the forward: relative error
            tau_ij <= expm1(u_a (e_ij + |s_ij - lse_i| + 2) + dlse_i), e_ij the forward's score
            events (oracles/attention/error_budget.py: 2D + 4 roundings of partial dot
            products, scale and pre-scaling, each <= |scale| sum_c |q_ic k_jc|; softcap and
            ALiBi add theirs), dlse_i the forward's worst-case LSE budget (which includes the
            stored LSE's own rounding). With rounds_p, P is rounded to the input dtype before
            P^T dO: tau_P = tau + u_in (1 + tau).
  dP        dO V^T in u_a: <= gamma_Dv B_ij.
  D         either rowsum(dO o O) from the stored, rounded output (FlashAttention-2):
            <= sum_c |dO_ic| W_ic + gamma_Dv sum_c |dO_ic| |O_ic| with W the forward's
            worst-case output budget, or sum_j P_ij dP_ij (autograd's softmax backward):
            <= sum_j P_ij (tau_ij |dP_ij| + gamma_Dv B_ij) + gamma_Lk sum_j P_ij |dP_ij|. A
            correct kernel may take either: the budget takes the larger; + u_a |D_i| for dlse.
  dS        P o (dP - D), as P dP - P D or P (dP - D):
            E_ij <= tau_ij |dS_ij| + P_ij gamma_Dv B_ij (1 + tau_ij) + P_ij tau_ij dD_i
                    + 2 u_a P_ij (|dP_ij| + |D_i|) + u_a |dS_ij|,  plus P_ij dD_i: one error
            per row, the same for every key j of it, kept apart (below).
  softcap   t = 1 - tanh^2(r/c) from a tanh within 4 ulps of an argument with the score events'
            error: |dt| <= 2 t u_a e_ij / c + 10 u_a; dR error <= E t + |dS| |dt| + u_a |dR|.
  rounding  with rounds_p, dR is rounded to the input dtype before the products: + u_in |dR|;
            and dP may be too (autograd through a forward that rounds P before P V rounds the
            gradient reaching a tile's unnormalised weights w = exp(s - m_running) <= 1):
            + P u_in |dP| + min(P n, 1) eta_in on dS.
  D's share row i's error dD_i enters dR_ij as P_ij t_ij dD_i for every j, hence dQ_i as
            |scale| dD_i |sum_j P_ij t_ij k_j| (the signs of k kept: the attention-weighted
            mean key, often far smaller than sum_j P_ij |k_j|), and dK_j as
            |scale| sum_i P_ij t_ij dD_i |q_i| (dD_i differs from row to row).
  products  dQ = scale dR K over Lk keys, dK = scale dR^T Q and dV = P^T dO over the G Lq rows
            of a kv group, in u_a: each element errs by the propagated input
            errors (|scale| dR_err |K|, ..., tau_P P^T |dO|) plus (gamma_n + 2 u_a) times its
            natural scale (|scale| |dR| |K|, |scale| |dR|^T |Q|, P^T |dO|; 2 u_a for applying
            the scale before or after).
  GQA       each query head's share of dK and dV may be rounded to the input dtype and the G
            shares summed in it (FlashAttention-2 sums its per-head dk_expanded in the input
            dtype; so does autograd through a repeat_interleave done before the cast up):
            + (u_in + gamma_(G-1)(u_in)) sum_h |share_h| + G eta_in (a share below the
            normal range).
  underflow each rounding of a result below the normal range errs by up to eta, half the
            dtype's smallest subnormal, whatever the result's size: eta_a on P, on dS and dR
            (3), on each product term of the three products; eta_in on P and dR rounded
            to the input dtype (float16's eta_in = 2^-25 ~ 3e-8: P and dS below 6e-5 keep few
            bits there).
  output    rounding to the input dtype: half an ulp of the result, a deterministic floor.

Hidden keys and rows with no visible key have P = 0 exactly: their terms, and the budget of an
exactly-zero gradient, are zero but for the ulp floor of zero. This is a worst-case bound
only: on long rows it exceeds typical errors by up to ~sqrt(n) (the forward also has a
probabilistic bound; the gradients do not yet).

Domain: finite inputs; weights and gradients here are float64 evaluations (relative error
~1e-15, which moves a budget, never a verdict).
"""

from __future__ import annotations

import math

import numpy as np

from attnspec.oracles.attention.error_budget import (UNIT_ROUNDOFF, ErrorBudget, PrecisionModel,
                                                     error_budget, half_ulp)
from attnspec.oracles.attention.float64 import attention64
from attnspec.oracles.attention.gradient_problem import GradientProblem
from attnspec.oracles.attention.visibility import alibi_distance, visible_keys

GRADIENTS = ("dq", "dk", "dv")
# Half the smallest subnormal of each dtype: the largest error of a rounding into its
# subnormal range (results of any size below the normal range err by up to this). float64's
# half subnormal, 2^-1075, is no float64 number (written so, it rounds to 0, and the budget of
# a subnormal gradient was 0): its bound is rounded up to the smallest subnormal, 2^-1074.
ETA = {"float16": 2.0**-25, "bfloat16": 2.0**-134, "float32": 2.0**-150, "float64": 2.0**-1074}


def _gamma(n: int, u: float) -> float:
    """gamma_n = n u / (1 - n u) (Higham, Accuracy and Stability, 3.4); inf when n u >= 1."""
    return n * u / (1 - n * u) if n * u < 1 else math.inf


def gradient_budget(problem: GradientProblem, model: PrecisionModel) -> ErrorBudget:
    """Worst-case budgets "dq" [B, Hq, Lq, D], "dk" [B, Hk, Lk, D], "dv" [B, Hk, Lk, Dv] of a
    backward pass of precision ``model`` on ``problem`` (module docstring)."""
    f = problem.forward
    exact = _dense_gradients(problem)  # float64 gradients, and the forward they come from
    out, lse = exact["out"], exact["lse"]
    with np.errstate(over="ignore"):  # a vacuous (infinite) forward budget stays inf
        forward = error_budget(f, out, model, exact_lse=lse).worst_case
    d_lse = problem.d_lse_or_zeros()
    visible = visible_keys(f)
    distance = alibi_distance(f) if f.alibi_slopes is not None else None
    dq = np.zeros(f.q.shape)
    dk = np.zeros(f.k.shape)
    dv = np.zeros(f.v.shape)
    dk_heads = np.zeros(f.k.shape)  # sum over the group's heads of |that head's dK share|
    dv_heads = np.zeros(f.v.shape)
    for b in range(f.batch):
        for h in range(f.q_heads):
            g = h // f.group_size
            # inf * 0 (a vacuous bound on a term that is exactly zero) is NaN, made inf below
            with np.errstate(invalid="ignore", over="ignore"):
                parts = _head(problem, model, b, h, visible[b, h], distance, out[b, h],
                              lse[b, h], forward["out"][b, h], forward["lse"][b, h], d_lse[b, h])
            dq[b, h] = parts[0]
            dk[b, g] += parts[1]
            dv[b, g] += parts[2]
            dk_heads[b, g] += np.abs(parts[3])
            dv_heads[b, g] += np.abs(parts[4])
    if f.group_size > 1:
        # GQA: each head's share may be rounded to the input dtype and the G shares summed in
        # it (FlashAttention-2's dk_expanded.sum, autograd through repeat_interleave before
        # the cast up): u_in + gamma_(G-1)(u_in) of the sum of the shares' magnitudes.
        # Each share's rounding may also fall below the normal range: + G eta_in.
        u_in = UNIT_ROUNDOFF[model.input_dtype]
        u_sum = u_in + _gamma(f.group_size - 1, u_in)
        floor = f.group_size * ETA[model.input_dtype]
        dk = (dk + u_sum * dk_heads + floor) * (1 + u_sum)
        dv = (dv + u_sum * dv_heads + floor) * (1 + u_sum)
    budgets = {"dq": dq, "dk": dk, "dv": dv}
    # the ulp floor of the result: bound |result| by |exact| + error, with the exact gradient's
    # magnitude from its float64 value
    for name in GRADIENTS:
        # An infinite bound times an exact zero in a product above gives NaN: the bound is
        # vacuous there, and says so as inf.
        bound = np.where(np.isnan(budgets[name]), np.inf, budgets[name])
        budgets[name] = bound + half_ulp(np.abs(exact[name]) + bound, model.input_dtype)
    return ErrorBudget(budgets, dict(budgets), 0.0, 0.0)


def _head(problem, model, b, h, visible, distance, o, lse, out_budget, lse_budget, d_lse):
    """Budget pieces of one (batch, query head): dq [Lq, D], and its shares of dk [Lk, D] and
    dv [Lk, Dv] (summed over the group by the caller)."""
    f = problem.forward
    u_a = UNIT_ROUNDOFF[model.accumulation_dtype]
    u_in = UNIT_ROUNDOFF[model.input_dtype]
    g = h // f.group_size
    q, k, v = f.q[b, h], f.k[b, g], f.v[b, g]  # [Lq, D], [Lk, D], [Lk, Dv]
    d_out = problem.d_out[b, h]  # [Lq, Dv]
    D, Dv, Lq, Lk = f.head_dim, f.value_dim, f.q_len, f.kv_len
    scale = 1.0 / math.sqrt(D) if f.scale is None else f.scale

    r = scale * (q @ k.T)  # raw scores [Lq, Lk]
    events = (2 * D + 4) * abs(scale) * (np.abs(q) @ np.abs(k).T)  # e_ij in units of u_a
    s = r
    t = np.ones_like(r)  # d s / d r
    if f.softcap is not None:
        c = f.softcap
        y = np.tanh(r / c)
        s = c * y
        t = 1 - y**2
        events = events + 3 * c
    if f.alibi_slopes is not None:
        bias = -f.alibi_slopes[h] * distance
        events = events + 2 * np.abs(bias) + np.abs(s + bias)
        s = s + bias

    empty = ~visible.any(axis=-1)  # [Lq]
    finite_lse = np.where(empty, 0.0, lse)[:, None]
    log_p = np.where(visible, np.where(visible, s, 0.0) - finite_lse, -np.inf)  # log P_ij
    p = np.exp(log_p)
    # The relative error of P is tau = expm1(err); it multiplies P everywhere, and is formed
    # with it in the log domain: P tau and P (1 + tau) stay finite (and 0 where P underflows
    # far enough) even where err is hundreds (logits of 1e8 in fp32) and tau itself overflows.
    err = np.where(visible, u_a * (events + np.abs(log_p) + 2) + lse_budget[:, None], 0.0)
    with np.errstate(over="ignore", divide="ignore"):
        log_tau = np.where(err > 30, err, np.log(np.expm1(err)))
        p_tau = np.exp(log_p + log_tau)  # P_ij tau_ij
        p_1tau = np.exp(log_p + err)  # P_ij (1 + tau_ij)
    # Underflow: a result below the normal range errs by up to half the dtype's smallest
    # subnormal (eta) whatever its size, so every rounding event also costs an absolute eta:
    # on P (exp, and the rounding to the input dtype with rounds_p), on dS and dR, and on each
    # product term of the three matrix products.
    eta_a, eta_in = ETA[model.accumulation_dtype], ETA[model.input_dtype]
    p_abs = np.where(visible, eta_a, 0.0)  # P's own underflow
    p_tau_p = p_tau + p_abs + (u_in * p_1tau + eta_in * visible if model.rounds_p else 0.0)

    dp = d_out @ v.T  # [Lq, Lk]
    big_b = np.abs(d_out) @ np.abs(v).T  # B_ij
    delta = np.sum(d_out * o, axis=-1) - d_lse  # D_i [Lq]
    delta = np.where(empty, 0.0, delta)
    ds = p * (dp - delta[:, None])
    g_dv = _gamma(Dv, u_a)
    g_lk = _gamma(Lk, u_a)
    abs_dp = np.abs(dp)
    d_from_output = np.sum(np.abs(d_out) * (out_budget + g_dv * np.abs(o)), axis=-1)
    d_from_weights = np.sum(_times(abs_dp, p_tau) + p * g_dv * big_b, axis=-1) + g_lk * np.sum(
        p * abs_dp, axis=-1)
    d_err = np.maximum(d_from_output, d_from_weights) + u_a * np.abs(delta)  # [Lq]
    abs_delta = np.abs(delta)[:, None]
    # dS's error without the one of D, and the one of D: P_ij dD_i, one error per row, the
    # same for every key of it (below, it reaches dQ_i as dD_i sum_j P_ij t_ij k_j, signs kept)
    ds_err = (_times(np.abs(dp - delta[:, None]), p_tau)
              + _times(g_dv * big_b, p_1tau) + _times(d_err[:, None], p_tau)
              + 2 * u_a * p * (abs_dp + abs_delta) + u_a * np.abs(ds)
              + p_abs * (np.abs(dp - delta[:, None]) + 3))
    if model.rounds_p:
        # autograd through a forward that rounds P before P V rounds dP = dO V^T in turn, as
        # the gradient of the unnormalised weights w = exp(s - m) of a tile (m the running
        # maximum then): relative u_in, and eta_in absolute below the normal range, which
        # times w <= 1 (and w = P l <= P n) errs dS by <= min(P n, 1) eta_in
        n_row = visible.sum(axis=-1, keepdims=True)
        ds_err = ds_err + p_1tau * u_in * abs_dp + np.minimum(n_row * p_1tau, 1.0) * ETA[
            model.input_dtype]
    pt = p * t  # the weight D's error carries into dR_ij
    if f.softcap is not None:
        dt = 2 * t * u_a * events / f.softcap + 10 * u_a
        dr = ds * t
        dr_err = _times(ds_err, t) + np.abs(ds) * dt + u_a * np.abs(dr) + p_abs
        d_weight = pt + p * dt  # P (t + |dt|): t as computed
    else:
        dr, dr_err = ds, ds_err
        d_weight = pt
    if model.rounds_p:
        dr_err = dr_err + u_in * (np.abs(dr) + dr_err) + np.where(visible, eta_in, 0.0)
        d_weight = d_weight * (1 + u_in)
    abs_dr = np.abs(dr)
    sc = abs(scale)
    rows_of_group = f.group_size * Lq
    # D's share: |sum_j P_ij t_ij k_j| dD_i for dQ (the row's one error, signs of k kept;
    # t's own error and the rounding of dR bound apart as absolute), sum_i for dK
    d_share_q = np.abs(pt @ k) + (d_weight - pt) @ np.abs(k)  # [Lq, D]
    dq = (sc * (dr_err @ np.abs(k)) + sc * _times(d_err[:, None], d_share_q)
          + (g_lk + 2 * u_a) * sc * (abs_dr @ np.abs(k)) + (Lk + 2) * eta_a)
    dk = (sc * ((dr_err + _times(d_err[:, None], d_weight)).T @ np.abs(q))
          + (_gamma(rows_of_group, u_a) + 2 * u_a) * sc * (abs_dr.T @ np.abs(q))
          + (Lq + 2) * eta_a)
    dv = (p_tau_p.T @ np.abs(d_out) + _gamma(rows_of_group, u_a) * (p.T @ np.abs(d_out))
          + Lq * eta_a)
    # this head's exact shares of dK and dV, for the GQA sum
    return dq, dk, dv, scale * (dr.T @ q), p.T @ d_out


def _times(bound: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """bound * factor, 0 where either is exactly 0 (also against an infinite other)."""
    with np.errstate(invalid="ignore"):
        return np.where((factor == 0) | (bound == 0), 0.0, bound * factor)


def gradients64(problem: GradientProblem) -> dict[str, np.ndarray]:
    """dq, dk, dv evaluated in float64 (for sizing budgets and identities, not for judging)."""
    dense = _dense_gradients(problem)
    return {name: dense[name] for name in GRADIENTS}


def largest_intermediate(problem: GradientProblem) -> float:
    """The largest magnitude a backward pass must hold in its input dtype: of dQ, of each query
    head's share of dK and dV (GQA sums them in the input dtype), of dP and of dS (rounded to
    the input dtype under rounds_p). A case where it exceeds the dtype's range cannot be
    computed in that dtype by any kernel (float64 evaluation; its relative error is ~1e-15)."""
    g = _dense_gradients(problem)
    return float(max((np.max(np.abs(g[name]), initial=0.0)
                      for name in ("dq", "dk_heads", "dv_heads", "dp", "ds"))))


def _dense_gradients(problem: GradientProblem) -> dict[str, np.ndarray]:
    """The contract's gradients in float64, densely, with the per-head shares, dP, dS, and the
    forward's out and lse."""
    f = problem.forward
    out, lse, empty = attention64(f)
    visible = visible_keys(f)
    d_lse = problem.d_lse_or_zeros()
    G = f.group_size
    k = np.repeat(f.k, G, axis=1)
    v = np.repeat(f.v, G, axis=1)
    scale = 1.0 / math.sqrt(f.head_dim) if f.scale is None else f.scale
    r = scale * (f.q @ np.swapaxes(k, -1, -2))  # [B, Hq, Lq, Lk]
    s, t = r, np.ones_like(r)
    if f.softcap is not None:
        y = np.tanh(r / f.softcap)
        s, t = f.softcap * y, 1 - y**2
    if f.alibi_slopes is not None:
        s = s - f.alibi_slopes[None, :, None, None] * alibi_distance(f)[None, None]
    finite_lse = np.where(empty, 0.0, lse)[..., None]
    with np.errstate(over="ignore", invalid="ignore"):
        p = np.where(visible, np.exp(np.where(visible, s, 0.0) - finite_lse), 0.0)
    delta = np.where(empty, 0.0, np.sum(problem.d_out * out, axis=-1) - d_lse)
    dp = problem.d_out @ np.swapaxes(v, -1, -2)  # [B, Hq, Lq, Lk]
    ds = p * (dp - delta[..., None])
    dr = ds * t
    dq = scale * (dr @ k)
    dk_heads = scale * (np.swapaxes(dr, -1, -2) @ f.q)  # [B, Hq, Lk, D]
    dv_heads = np.swapaxes(p, -1, -2) @ problem.d_out  # [B, Hq, Lk, Dv]
    B, Hk = f.batch, f.kv_heads
    dk = dk_heads.reshape(B, Hk, G, *dk_heads.shape[2:]).sum(axis=2)
    dv = dv_heads.reshape(B, Hk, G, *dv_heads.shape[2:]).sum(axis=2)
    return {"dq": dq, "dk": dk, "dv": dv, "dk_heads": dk_heads, "dv_heads": dv_heads,
            "dp": np.where(visible, dp, 0.0), "ds": ds, "out": out, "lse": lse}
