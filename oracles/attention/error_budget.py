"""Per-element forward error budgets for attention kernels, derived from their precision model.

Claim (derived here; docs/error-budget.md has the full derivation): a kernel that computes
scores, the softmax and its sums in accumulation precision u_a, optionally rounds P to the input
precision u_in before P @ V (FlashAttention-2), and rounds the output once to the output dtype,
returns out_ic with

    |out_ic - o_ic| <= W_ic                      always (worst case, first order made rigorous
                                                 with expm1 and gamma_n = n u / (1 - n u)), and
    |out_ic - o_ic| <= ulp(o)/2 + lambda sqrt(V_ic)   with probability >= 1 - 4 alpha per element
                                                 when rounding errors are independent and mean
                                                 zero (Higham and Mary 2019, Model 4.1), by
                                                 Hoeffding's inequality: lambda = sqrt(2 ln(2/alpha))
                                                 (plus second-order terms: below).

Every rounding event k has an error |delta_k| <= u_k and moves the output by at most
|a_k| |delta_k|; W sums |a_k| u_k, V sums (a_k u_k)^2. The events, per query row i and key j
(w_j the exact softmax weights, m the row's largest score, g_j = m - s_j >= 0,
A_j = |scale| sum_c |q_ic k_jc|, N_c = sum_j w_j |v_jc|, n = number of visible keys):

  scores        <= 2D + 4 roundings of partial dot products, products, scale and pre-scaling,
                each <= u_a A_j; softcap 3 more (<= u_a c), ALiBi 3 more (<= u_a |b_j|,
                u_a |s_j|), moving w_j relatively, hence out by w_j (v_jc - o_c) each;
  exp           the subtraction s_j - m (<= u_a g_j) and exp itself (<= 2 u_a, one ulp);
  P rounding    (if rounds_p) <= u_in relative on p_j in the numerator only: w_j v_jc;
  additions     n - 1 additions to each running sum. Adding x to a partial sum S errs by at
                most min(u_a |S + x|, |x|) (S is a float, so the nearest float to S + x is no
                farther than S), and |S + x| <= N_c: the numerator's additions move out_c by
                at most min(u_a N_c, w_j |v_jc|) each, the normaliser's by min(u_a, w_j) |o_c|.
  rescalings    online softmax multiplies its running sums by exp(m_old - m_new) when the
                maximum grows: at most n - 1 times, each an error <= u_a (3 + g_j) on every key
                j already summed. The row's argmax key is never among them (nothing exceeds it),
                so each event moves out_c by at most u_a R_c,
                R_c = sum_{j != argmax} w_j (|v_jc| + |o_c|)(3 + g_j).
  division      <= u_a |o_c|. One visible key means no addition and no rescaling, and the
                budget reduces to a division and the ulp floor.
  output        rounding to the output dtype: at most half an ulp of the result, kept outside
                the probabilistic sum as a deterministic floor.
  split merges  (split-KV through a stored lse per split: FlashAttention's split-KV combine,
                flash-decoding, ring attention; always counted) (i) each stored lse_h rounded
                at its magnitude, <= u_a L_j with L_j = max(|s_j|, |lse|) for every key j of
                the split, shared by the split's weights: u_a sum_j w_j |v_jc - o_c| L_j in
                all; (ii) the merged lse = lse_max + x rounded at its magnitude:
                |o_c| min(u_a |lse|, log l); (iii) when another split carries weight
                (l - 1 >= u_a / 4), x's own error and each split's factor, product and
                division. One event of each kind's total in the probabilistic sum: a split's
                weights share their error, and the cut is unknown.

Beyond first order (the score events move weight j by e^delta_j, |delta_j| <= tau_j): the
probabilistic bound takes t_j = min(lambda_key sigma_j, tau_j) per key (Hoeffding at alpha / Lk
each), keeps the first-order sum of every event as one Hoeffding term, and adds the second-order
rest: the remainder sum_j w_j rho(t_j) |v_jc - o_c| / Z (rho(t) = e^t - 1 - t,
Z = sum_j w_j e^-t_j <= Z'), the normaliser's zeta |L| (zeta >= |1/Z' - 1|), and the other
events' change at the kernel's weights (within a factor 1 +- xi of the exact ones). Four
probabilistic statements in all: an element's bound fails with probability <= 4 alpha.
Where the worst case's 1 / (1 - max phi) is void (phi >= 1), it falls back to the hull: the
kernel's weights are a convex combination, so its output lies within the values' range.

The LSE budget follows the same events through lse = m + log l: d lse / d s_j = w_j, and a
relative error of l is an absolute error of lse; its worst case for the scores is
log sum_j w_j e^tau_j (Jensen), its remainder beyond first order sum_j w_j rho(t_j).

Domain: finite inputs. Inputs come as an AttentionProblem and the exact output (from either
oracle tier); weights here are evaluated in float64, ample for a budget (its own relative error
~1e-15 changes a bound, not a verdict).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from attnspec.oracles.attention.problem import AttentionProblem
from attnspec.oracles.attention.visibility import alibi_distance, visible_keys

UNIT_ROUNDOFF = {"float16": 2.0**-11, "bfloat16": 2.0**-8, "float32": 2.0**-24, "float64": 2.0**-53}
_MANTISSA_BITS = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}
_MIN_NORMAL_EXPONENT = {"float16": -14, "bfloat16": -126, "float32": -126, "float64": -1022}
_SMALLEST_FLOAT64 = 2.0**-1074  # the smallest positive (subnormal) float64

# alpha, the false-alarm probability of each of the probabilistic bound's four statements (an
# element's bound fails with probability <= 4 alpha). A thorough run compares at most ~1e7
# output elements, so 1e-12 keeps a run's false-alarm rate below 4e-5 (union bound) under the
# independence model.
DEFAULT_FALSE_ALARM = 1e-12


def ulp(x: np.ndarray, dtype: str) -> np.ndarray:
    """Unit in the last place of |x| in ``dtype`` (subnormal spacing below the normal range)."""
    _, exponent = np.frexp(np.abs(np.asarray(x, dtype=np.float64)))  # |x| = m 2^e, m in [.5, 1)
    exponent = np.maximum(exponent - 1, _MIN_NORMAL_EXPONENT[dtype])
    return np.ldexp(1.0, exponent - _MANTISSA_BITS[dtype] + 1)


def half_ulp(x: np.ndarray, dtype: str) -> np.ndarray:
    """Half an ulp of |x| in ``dtype``: the largest error of rounding to nearest there, as a
    float64 bound rounded up. In float64's subnormal range half an ulp (2^-1075) is not a
    float64 number and ulp / 2 would round to 0; the bound is then the smallest subnormal,
    2^-1074 (a kernel's subnormal float64 result one ulp from a subnormal exact value is an
    error of exactly 2^-1074, which a bound of 0 would call infinitely wrong)."""
    return np.maximum(ulp(x, dtype) / 2, _SMALLEST_FLOAT64)


def hoeffding_lambda(false_alarm: float) -> float:
    """lambda with P(|sum_k delta_k a_k| > lambda sqrt(sum_k (u_k a_k)^2)) <= false_alarm
    for independent mean-zero |delta_k| <= u_k (Hoeffding 1963: 2 exp(-lambda^2 / 2))."""
    if not 0 < false_alarm < 1:
        raise ValueError(f"false_alarm must be in (0, 1), got {false_alarm}")
    return math.sqrt(2.0 * math.log(2.0 / false_alarm))


def _gamma(n: np.ndarray | int, u: float) -> np.ndarray:
    """gamma_n = n u / (1 - n u) (Higham, Accuracy and Stability, 3.4); inf when n u >= 1."""
    nu = np.asarray(n, dtype=np.float64) * u
    with np.errstate(divide="ignore"):
        return np.where(nu < 1, nu / np.maximum(1 - nu, 0), np.inf)


@dataclass(frozen=True)
class PrecisionModel:
    """How a kernel rounds: input/output dtype, accumulation dtype, and P rounding."""

    input_dtype: str
    accumulation_dtype: str
    rounds_p: bool
    lse_dtype: str | None = None  # default: the accumulation dtype
    # Split-KV merges through a stored lse per split (FlashAttention's split-KV combine,
    # flash-decoding, ring attention): see "split merges" in the module docstring.
    merges_lse: bool = True

    def __post_init__(self):
        for name in (self.input_dtype, self.accumulation_dtype, self.lse_dtype or "float64"):
            if name not in UNIT_ROUNDOFF:
                raise ValueError(f"unknown dtype {name!r}; known: {', '.join(UNIT_ROUNDOFF)}")


@dataclass(frozen=True)
class ErrorBudget:
    """Per-element budgets of each named output tensor (see the module docstring): "out"
    [B, Hq, Lq, Dv] and "lse" [B, Hq, Lq], each with a worst-case and a probabilistic bound."""

    worst_case: dict[str, np.ndarray]
    probabilistic: dict[str, np.ndarray]
    false_alarm: float
    hoeffding_lambda: float

    def in_force(self, tensor: str) -> np.ndarray:
        """The budget of ``tensor`` in force: the tighter of the two bounds, elementwise."""
        return np.minimum(self.worst_case[tensor], self.probabilistic[tensor])

    def bound_at(self, tensor: str, index) -> str:
        """Which bound sets the budget of ``tensor`` at ``index``."""
        worst, probabilistic = self.worst_case[tensor][index], self.probabilistic[tensor][index]
        return "worst-case" if worst <= probabilistic else "probabilistic"

    def restricted(self, tensor: str, index) -> "ErrorBudget":
        """The same budgets with ``tensor`` restricted to ``index`` (e.g. leading columns)."""
        return ErrorBudget({**self.worst_case, tensor: self.worst_case[tensor][index]},
                           {**self.probabilistic, tensor: self.probabilistic[tensor][index]},
                           self.false_alarm, self.hoeffding_lambda)


def error_budget(
    problem: AttentionProblem,
    exact_out: np.ndarray,
    model: PrecisionModel,
    *,
    exact_lse: np.ndarray | None = None,
    false_alarm: float = DEFAULT_FALSE_ALARM,
) -> ErrorBudget:
    """Budgets for a kernel of precision ``model`` on ``problem``; exact_out [B, Hq, Lq, Dv]."""
    lam = hoeffding_lambda(false_alarm)
    # Per-key exponent errors are bounded at alpha / Lk each: a row's keys together fail with
    # probability <= alpha (union bound), so an element's bound fails with <= 2 alpha.
    lam_key = hoeffding_lambda(false_alarm / max(problem.kv_len, 1))
    shape_out = (problem.batch, problem.q_heads, problem.q_len, problem.value_dim)
    exact_out = np.asarray(exact_out, dtype=np.float64)
    if exact_out.shape != shape_out:
        raise ValueError(f"exact_out has shape {exact_out.shape}, expected {shape_out}")
    visible = visible_keys(problem)
    distance = alibi_distance(problem) if problem.alibi_slopes is not None else None
    out_w = np.zeros(shape_out)
    out_p = np.zeros(shape_out)
    lse_w = np.zeros(shape_out[:3])
    lse_p = np.zeros(shape_out[:3])
    for b in range(problem.batch):
        for h in range(problem.q_heads):
            parts = _head_budget(problem, model, b, h, visible[b, h], distance, exact_out[b, h])
            out_w[b, h], out_p[b, h], lse_w[b, h], lse_p[b, h] = (
                parts[0], parts[1](lam, lam_key), parts[2], parts[3](lam, lam_key)
            )
    if exact_lse is not None:
        lse_dtype = model.lse_dtype or model.accumulation_dtype
        floor = half_ulp(np.where(np.isfinite(exact_lse), exact_lse, 0.0), lse_dtype)
        lse_w = lse_w + floor
        lse_p = lse_p + floor
    return ErrorBudget({"out": out_w, "lse": lse_w}, {"out": out_p, "lse": lse_p}, false_alarm, lam)


def _head_budget(problem, model, b, h, visible, distance, o):
    """Budget pieces for one (batch, query head): visible [Lq, Lk], o [Lq, Dv]."""
    u_a = UNIT_ROUNDOFF[model.accumulation_dtype]
    u_in = UNIT_ROUNDOFF[model.input_dtype]
    g_head = h // problem.group_size
    q, k, v = problem.q[b, h], problem.k[b, g_head], problem.v[b, g_head]
    D = problem.head_dim
    scale = 1.0 / math.sqrt(D) if problem.scale is None else problem.scale

    s = scale * (q @ k.T)  # [Lq, Lk] float64 scores
    a = abs(scale) * (np.abs(q) @ np.abs(k).T)  # A_ij = |scale| sum_c |q_ic k_jc|
    n_score_events = 2 * D + 4
    event_sq = n_score_events * a**2  # sum of squared bounds, in units of u_a^2
    event_abs = n_score_events * a  # sum of bounds, in units of u_a
    if problem.softcap is not None:
        c = problem.softcap
        s = c * np.tanh(s / c)
        event_sq = event_sq + 3 * c**2
        event_abs = event_abs + 3 * c
    if problem.alibi_slopes is not None:
        bias = -problem.alibi_slopes[h] * distance
        event_sq = event_sq + 2 * bias**2 + (s + bias) ** 2
        event_abs = event_abs + 2 * np.abs(bias) + np.abs(s + bias)
        s = s + bias

    n_visible = visible.sum(axis=-1)  # [Lq]
    s = np.where(visible, s, -np.inf)
    row_max = np.max(s, axis=-1, keepdims=True, initial=-np.inf)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    p = np.exp(s - row_max)  # 0 where invisible
    total = p.sum(axis=-1, keepdims=True)  # l, the sum of the shifted exponentials (>= 1)
    w = np.divide(p, total, out=np.zeros_like(p), where=total > 0)  # exact weights (float64)
    gap = np.where(visible, row_max - np.where(visible, s, 0.0), 0.0)  # g_ij = m_i - s_ij >= 0

    # Per-key relative weight errors: scores, subtraction (<= u_a g), exp (<= 2 u_a).
    tau_sq = u_a**2 * (event_sq + gap**2 + 4.0)  # [Lq, Lk]
    tau_abs = u_a * (event_abs + gap + 2.0)
    abs_v = np.abs(v)
    abs_o = np.abs(o)
    # The weights a kernel may hold, however far its scores are off, are a convex combination:
    # its output (before the sums' roundings) stays within the values' range.
    v_hi = np.full(o.shape, -np.inf)  # [Lq, Dv]: the largest and smallest visible values
    v_lo = np.full(o.shape, np.inf)
    for i in np.flatnonzero(n_visible):
        seen = v[visible[i]]
        v_hi[i], v_lo[i] = seen.max(0), seen.min(0)
    spread = np.where(n_visible[:, None] > 0, np.maximum(v_hi - o, o - v_lo), 0.0)
    abs_v_max = np.where(n_visible[:, None] > 0, np.maximum(np.abs(v_hi), np.abs(v_lo)), 0.0)

    # sum_j w_j^2 tau_j^2 (v_jc - o_c)^2 by expanding the square: three products.
    wt = w**2 * tau_sq
    score_var = wt @ v**2 - 2 * o * (wt @ v) + o**2 * wt.sum(-1, keepdims=True)
    score_var = np.maximum(score_var, 0.0)
    with np.errstate(over="ignore"):  # e^x - 1 = inf past x ~ 709: a vacuous bound, kept inf
        phi = np.where(visible, np.expm1(tau_abs), 0.0)
    phi_max = phi.max(axis=-1, keepdims=True, initial=0.0)
    # Where some key's weight may move by a factor e or more (phi >= 1: scores of ~1e4 in a
    # half-precision accumulation, ~1e8 in float32), first order says nothing; the hull does.
    hull = phi_max >= 1
    with np.errstate(divide="ignore", invalid="ignore"):
        score_worst = np.where(
            hull, spread, ((w * phi) @ abs_v + abs_o * (w * phi).sum(-1, keepdims=True))
            / (1 - phi_max),
        )

    n_sum = w @ abs_v  # N_c = sum_j w_j |v_jc|
    n_adds = np.maximum(n_visible - 1, 0)[:, None]  # additions = possible rescalings
    w_sq = w**2
    w_sq_sum = w_sq.sum(-1, keepdims=True)
    # Rescaled keys: all but the argmax, weighted by the exponent gap of their rescale factor.
    not_argmax = visible & (gap > 0)
    rescaled = w * (3.0 + gap) * not_argmax
    rescaled_sum = rescaled.sum(-1, keepdims=True)
    rescaled_v = rescaled @ abs_v

    def accumulation_var(n_scale, o_abs):
        """Variance (in the Hoeffding sense) of additions, rescalings and the division: at the
        exact weights with n_scale = 1 and o_abs = |o| (first order); with n_scale = xi and
        o_abs = (1 + xi)|o' - o| + xi |o|, of the change of their coefficients when every
        weight moves by a factor within 1 +- xi and the output to o'."""
        add_var = np.minimum(n_adds * (u_a * n_scale * n_sum) ** 2,
                             n_scale**2 * (w_sq @ v**2)) + o_abs**2 * np.minimum(
            n_adds * u_a**2, w_sq_sum)
        r_sum = n_scale * rescaled_v + o_abs * rescaled_sum  # R_c
        return add_var + u_a**2 * (n_adds * r_sum**2 + o_abs**2)

    # Worst case, first order made rigorous, at the exact weights.
    add_worst = np.minimum(_gamma(n_adds, u_a) * n_sum, n_sum) + abs_o * np.minimum(
        _gamma(n_adds, u_a), 1.0
    )
    acc_worst = add_worst + _gamma(n_adds, u_a) * (rescaled_v + abs_o * rescaled_sum) + u_a * abs_o

    if model.rounds_p:
        p_var = u_in**2 * ((w**2) @ v**2)
        p_worst = u_in * (1 + u_a) * n_sum
    else:
        p_var = p_worst = 0.0

    log_total = np.log(np.maximum(total, 1.0))  # [Lq, 1], log l
    lse_row = row_max + log_total  # [Lq, 1], the exact lse
    if model.merges_lse:
        merge_worst, merge_var, lse_merge_worst, lse_merge_var = _merge_events(
            u_a, visible, s, w, gap, v, o, total, log_total, lse_row, n_visible)
    else:
        merge_worst = merge_var = lse_merge_worst = lse_merge_var = 0.0

    worst = score_worst + p_worst + acc_worst + merge_worst
    # Where the hull is in force the weights are anything: the numerator and the normaliser
    # are sums of the same computed terms p_j (the same rescale factors), each reaching its sum
    # through at most n - 1 additions, n - 1 rescaled products and its product with v_j
    # (gamma_(2n+2) relative, the numerator's p also rounded to u_in if rounds_p); the
    # division adds u_a. A merge scales every split's weight by e^eps, eps <= its lse roundings
    # u_a (|lse| + max_j tau_j + 2 log n) + x's error n (3 u_a + gamma_n), and each split's
    # factor, product and division by 5 u_a (gap e^-gap <= 1 / e).
    g_hull = _gamma(2 * n_visible[:, None] + 2, u_a)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sums_hull = np.where(g_hull < 1, (2 * g_hull + u_a + (u_in if model.rounds_p else 0.0))
                             / (1 - g_hull), np.inf)
        if model.merges_lse:
            log_n = np.log(np.maximum(n_visible[:, None], 1))
            eps = (u_a * (np.abs(lse_row) + tau_abs.max(-1, keepdims=True, initial=0.0)
                          + 2 * log_n)
                   + n_visible[:, None] * (3 * u_a + _gamma(n_visible[:, None], u_a)))
            sums_hull = sums_hull + np.expm1(eps + 5 * u_a)
        worst = np.where(hull, spread + sums_hull * abs_v_max, worst)
    worst_out = worst + half_ulp(abs_o + np.where(np.isfinite(worst), worst, 0.0),
                                 model.input_dtype)

    def key_exponent_error(lam_key):
        """t_j: |delta_j| <= t_j for every visible key of a row with probability >= 1 - alpha
        (Hoeffding per key at lam_key, union bound over the row's keys), never above the
        worst case tau_abs."""
        return np.where(visible, np.minimum(lam_key * np.sqrt(tau_sq), tau_abs), 0.0)

    def second_order(lam_key):
        """The score events beyond first order, at t_j (key_exponent_error): with
        Z' = sum_j w_j e^delta_j in [Z, Z_hi] (Z = sum_j w_j e^-t_j, Z_hi = sum_j w_j e^t_j),
        out' - o = L / Z' + Rem / Z' with L the first-order sum and |Rem| <= R_c =
        sum_j w_j rho(t_j) |v_jc - o_c|, rho(t) = e^t - 1 - t >= |e^d - 1 - d|. Returns R_c,
        Z, zeta >= |1 / Z' - 1|, xi >= |w'_j / w_j - 1| (the kernel's weights w'_j =
        w_j e^delta_j / Z'), and rho."""
        t = key_exponent_error(lam_key)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            rho = np.expm1(t) - t
            w_rho = np.where(w > 0, w * rho, 0.0)
            remainder = w_rho @ abs_v + abs_o * w_rho.sum(-1, keepdims=True)
            z = (w * np.exp(-t)).sum(-1, keepdims=True)
            z_hi = (w * np.exp(t)).sum(-1, keepdims=True)
            t_max = np.where(w > 0, t, 0.0).max(-1, keepdims=True, initial=0.0)
            zeta = np.where(z > 0, np.maximum(1 / z - 1, 1 - 1 / z_hi), np.inf)
            xi = np.where(z > 0, np.maximum(np.exp(t_max) / z - 1, 1 - np.exp(-t_max) / z_hi),
                          np.inf)
        return remainder, z, zeta, xi, rho

    def probabilistic_out(lam, lam_key):
        # out - o = (L + A) + L (1/Z' - 1) + Rem / Z' + (A' - A): L + A, every event's first-order
        # term at the exact weights, is one linear form (Hoeffding, lambda); the rest is second
        # order. A' - A, the other events' terms at the kernel's weights minus at the exact ones,
        # is a linear form in those events given the score events (independent of them), with
        # coefficients within xi of theirs and |o'| within |o' - o| of |o|.
        remainder, z, zeta, xi, _ = second_order(lam_key)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            first = lam * np.sqrt(score_var + accumulation_var(1.0, abs_o) + p_var + merge_var)
            linear = lam * np.sqrt(score_var)
            moved = np.where(z > 0, linear * (1 + zeta) + remainder / z, np.inf)  # |o' - o|
            change = accumulation_var(xi, (1 + xi) * moved + xi * abs_o) + xi**2 * (
                p_var + merge_var)
            dev = first + np.where(z > 0, zeta * linear + remainder / z, np.inf) + lam * np.sqrt(
                change)
            dev = np.where(np.isnan(dev), np.inf, dev)
        return dev + half_ulp(abs_o + np.where(np.isfinite(dev), dev, 0.0), model.input_dtype)

    # LSE: d lse / d s_j = w_j; relative errors of l are absolute errors of lse.
    lse_score_var = (w_sq * tau_sq).sum(-1)
    with np.errstate(over="ignore"):
        # |log sum_j w_j e^delta_j| <= log sum_j w_j e^tau_j (Jensen on both sides), in the
        # log domain so that it stays finite where e^tau overflows.
        top = np.where(w > 0, tau_abs, -np.inf).max(-1, keepdims=True, initial=-np.inf)
        shifted = np.where(w > 0, tau_abs - np.where(np.isfinite(top), top, 0.0), -np.inf)
        lse_score_worst = np.where(
            np.isfinite(top), np.log(np.maximum((w * np.exp(shifted)).sum(-1, keepdims=True),
                                                np.finfo(float).tiny)) + top,
            np.where(top > 0, np.inf, 0.0))[:, 0]
    n_adds_row = n_adds[:, 0]
    r_row = rescaled_sum[:, 0]
    lt = log_total[:, 0]
    lse_acc_var = (
        np.minimum(n_adds_row * u_a**2, w_sq_sum[:, 0])
        + n_adds_row * (u_a * r_row) ** 2
        + u_a**2 * (lt**2 + lse_row[:, 0] ** 2)
        + lse_merge_var
    )
    lse_acc_worst = (
        np.minimum(_gamma(n_adds_row, u_a), 1.0)
        + _gamma(n_adds_row, u_a) * r_row
        + u_a * (np.abs(lt) + np.abs(lse_row[:, 0]))
        + lse_merge_worst
    )
    empty = n_visible == 0
    lse_worst = np.where(empty, 0.0, lse_score_worst + lse_acc_worst)

    def probabilistic_lse(lam, lam_key):
        # log sum w e^d = sum w d + r, 0 <= r <= sum_j w_j rho(t_j): first order plus remainder;
        # the sums' relative errors at the kernel's weights change by a factor within 1 +- xi.
        *_, xi, rho = second_order(lam_key)
        with np.errstate(invalid="ignore", over="ignore"):
            remainder = np.where(w > 0, w * rho, 0.0).sum(-1)
            dev = (lam * np.sqrt(lse_score_var + lse_acc_var) + remainder
                   + lam * xi[:, 0] * np.sqrt(lse_acc_var))
            dev = np.where(np.isnan(dev), np.inf, dev)
        return np.where(empty, 0.0, dev)

    empty_o = empty[:, None]
    return (
        np.where(empty_o, 0.0, worst_out),
        lambda lam, lam_key: np.where(empty_o, 0.0, probabilistic_out(lam, lam_key)),
        lse_worst,
        probabilistic_lse,
    )


# Largest [rows x keys x features] block formed at once for sum_j x_ij |v_jc - o_ic|.
_DEVIATION_BLOCK = 1 << 22


def weighted_abs_deviation(x: np.ndarray, v: np.ndarray, o: np.ndarray) -> np.ndarray:
    """sum_j x_ij |v_jc - o_ic| for x [Lq, Lk] >= 0, v [Lk, Dv], o [Lq, Dv]: [Lq, Dv], exact
    (no triangle inequality: on a row whose weight sits on one key, v_j - o cancels)."""
    Lq, Lk = x.shape
    out = np.zeros_like(o, dtype=np.float64)
    keys = max(1, _DEVIATION_BLOCK // max(v.shape[1], 1))
    for i in range(Lq):
        for start in range(0, Lk, keys):
            xs = x[i, start:start + keys]
            used = xs > 0
            if used.any():
                out[i] += xs[used] @ np.abs(v[start:start + keys][used] - o[i])
    return out


def _merge_events(u_a, visible, s, w, gap, v, o, total, log_total, lse_row, n_visible):
    """Worst case and variance of a split-KV merge's roundings (module docstring, "split
    merges"), for out [Lq, Dv] and lse [Lq]; every term is independent of how the keys are
    split and of how many splits there are."""
    abs_o = np.abs(o)
    # (i) Each split's stored lse_h, rounded at its magnitude: |lse_h| <= L_j for every key j
    # of the split (s_j <= m_h <= lse_h <= lse), an exponent error shared by the split's
    # weights; through the recomputed total it moves out by W_h (out_h - o) per unit.
    mag = np.where(visible, np.maximum(np.abs(np.where(visible, s, 0.0)), np.abs(lse_row)), 0.0)
    stored = u_a * weighted_abs_deviation(w * mag, v, o)  # [Lq, Dv]
    # (ii) The merged lse = lse_max + x, x = log sum_h exp(lse_h - lse_max) in [0, log l],
    # rounded at its magnitude: <= min(u_a |lse|, x), shared by every weight.
    rounded_total = abs_o * np.minimum(u_a * np.abs(lse_row), log_total)
    # (iii) Roundings that exist only when another split carries weight (l - 1 >= u_a / 4;
    # below that the sum of the other splits' terms vanishes beside 1 and the merge is exact).
    # x = log Sigma, Sigma = sum_h exp(lse_h - lse_max) in [1, S]: its S - 1 <= n - 1 additions
    # err by <= u_a Sigma each and by <= Sigma - 1 <= l - 1 in all; each term exp(lse_h -
    # lse_max) = W_h Sigma by u_a (2 + gap) relative, the gap lse_max - lse_h <= g_j + log l
    # for the split's keys; the log by u_a x <= u_a log l. Relative to Sigma: x's error.
    # Per split, the factor exp(lse_h - lse), its product with out_h and out_h's own division
    # err by u_a (4 + g_j + log l) relative on W_h out_h.
    active = (total - 1.0) >= u_a / 4
    non_max = np.maximum((w * (2.0 + gap + log_total)).sum(-1, keepdims=True) - w.max(
        -1, keepdims=True, initial=0.0) * (2.0 + log_total), 0.0)
    adds = np.maximum(n_visible[:, None] - 1, 0)
    x_worst = np.where(active, np.minimum(_gamma(adds, u_a), total - 1.0)
                       + u_a * (log_total + non_max), 0.0)  # [Lq, 1]
    x_var = np.where(active, np.minimum(adds * u_a**2, (total - 1.0) ** 2)
                     + u_a**2 * (log_total**2 + non_max**2), 0.0)
    factors = np.where(active, u_a * ((w * (4.0 + gap + log_total)) @ np.abs(v)), 0.0)
    worst = stored + rounded_total + abs_o * x_worst + factors
    # Events (i) are one per split, on splits of any size: their squares sum to at most the
    # square of their sum, the variance of a single event; likewise the terms' and factors'.
    var = stored**2 + rounded_total**2 + abs_o**2 * x_var + factors**2
    # lse: (i) moves it by sum_h W_h eps_h <= u_a sum_j w_j L_j, (iii) by x's error; (ii) is
    # the lse's own rounding, its floor.
    lse_stored = u_a * (w * mag).sum(-1)
    lse_worst = lse_stored + x_worst[:, 0]
    lse_var = lse_stored**2 + x_var[:, 0]
    return worst, var, lse_worst, lse_var
