"""Per-element forward error budgets for attention kernels, derived from their precision model.

Claim (derived here; docs/error-budget.md has the full derivation): a kernel that computes
scores, the softmax and its sums in accumulation precision u_a, optionally rounds P to the input
precision u_in before P @ V (FlashAttention-2), and rounds the output once to the output dtype,
returns out_ic with

    |out_ic - o_ic| <= W_ic                      always (worst case, first order made rigorous
                                                 with expm1 and gamma_n = n u / (1 - n u)), and
    |out_ic - o_ic| <= ulp(o)/2 + lambda sqrt(V_ic)   with probability >= 1 - alpha per element
                                                 when rounding errors are independent and mean
                                                 zero (Higham and Mary 2019, Model 4.1), by
                                                 Hoeffding's inequality: lambda = sqrt(2 ln(2/alpha)).

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

The LSE budget follows the same events through lse = m + log l: d lse / d s_j = w_j, and a
relative error of l is an absolute error of lse.

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

# Per-element false-alarm probability of the probabilistic bound. A thorough run compares at
# most ~1e7 output elements, so 1e-12 per element keeps a run's false-alarm rate below 1e-5
# (union bound) under the independence model.
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
                parts[0], parts[1](lam), parts[2], parts[3](lam)
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
    total = p.sum(axis=-1, keepdims=True)
    w = np.divide(p, total, out=np.zeros_like(p), where=total > 0)  # exact weights (float64)
    gap = np.where(visible, row_max - np.where(visible, s, 0.0), 0.0)  # g_ij = m_i - s_ij >= 0

    # Per-key relative weight errors: scores, subtraction (<= u_a g), exp (<= 2 u_a).
    tau_sq = u_a**2 * (event_sq + gap**2 + 4.0)  # [Lq, Lk]
    tau_abs = u_a * (event_abs + gap + 2.0)
    abs_v = np.abs(v)
    abs_o = np.abs(o)

    # sum_j w_j^2 tau_j^2 (v_jc - o_c)^2 by expanding the square: three products.
    wt = w**2 * tau_sq
    score_var = wt @ v**2 - 2 * o * (wt @ v) + o**2 * wt.sum(-1, keepdims=True)
    score_var = np.maximum(score_var, 0.0)
    with np.errstate(over="ignore"):  # e^x - 1 = inf past x ~ 709: a vacuous bound, kept inf
        phi = np.where(visible, np.expm1(tau_abs), 0.0)
    phi_max = phi.max(axis=-1, keepdims=True, initial=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        score_worst = np.where(
            phi_max < 1, ((w * phi) @ abs_v + abs_o * (w * phi).sum(-1, keepdims=True))
            / (1 - phi_max), np.inf,
        )

    n_sum = w @ abs_v  # N_c = sum_j w_j |v_jc|
    n_adds = np.maximum(n_visible - 1, 0)[:, None]  # additions = possible rescalings
    w_sq = w**2
    w_sq_sum = w_sq.sum(-1, keepdims=True)
    add_var = np.minimum(n_adds * (u_a * n_sum) ** 2, w_sq @ v**2) + o**2 * np.minimum(
        n_adds * u_a**2, w_sq_sum
    )
    add_worst = np.minimum(_gamma(n_adds, u_a) * n_sum, n_sum) + abs_o * np.minimum(
        _gamma(n_adds, u_a), 1.0
    )
    # Rescaled keys: all but the argmax, weighted by the exponent gap of their rescale factor.
    not_argmax = visible & (gap > 0)
    rescaled = w * (3.0 + gap) * not_argmax
    r_sum = rescaled @ abs_v + abs_o * rescaled.sum(-1, keepdims=True)  # R_c
    acc_var = add_var + u_a**2 * (n_adds * r_sum**2 + o**2)
    acc_worst = add_worst + _gamma(n_adds, u_a) * r_sum + u_a * abs_o

    if model.rounds_p:
        p_var = u_in**2 * ((w**2) @ v**2)
        p_worst = u_in * (1 + u_a) * n_sum
    else:
        p_var = p_worst = 0.0

    worst = score_worst + p_worst + acc_worst
    worst_out = worst + half_ulp(abs_o + worst, model.input_dtype)

    def probabilistic_out(lam):
        dev = lam * np.sqrt(score_var + p_var + acc_var)
        return dev + half_ulp(abs_o + dev, model.input_dtype)

    # LSE: d lse / d s_j = w_j; relative errors of l are absolute errors of lse.
    lse_score_var = (w_sq * tau_sq).sum(-1)
    lse_score_worst = (w * tau_abs).sum(-1)
    n_adds_row = n_adds[:, 0]
    r_row = rescaled.sum(-1)
    log_total = np.log(np.maximum(total[:, 0], 1.0))
    lse_acc_var = (
        np.minimum(n_adds_row * u_a**2, w_sq_sum[:, 0])
        + n_adds_row * (u_a * r_row) ** 2
        + u_a**2 * (log_total**2 + (row_max[:, 0] + log_total) ** 2)
    )
    lse_acc_worst = (
        np.minimum(_gamma(n_adds_row, u_a), 1.0)
        + _gamma(n_adds_row, u_a) * r_row
        + u_a * (np.abs(log_total) + np.abs(row_max[:, 0] + log_total))
    )
    empty = n_visible == 0
    lse_worst = np.where(empty, 0.0, np.expm1(lse_score_worst) + lse_acc_worst)

    def probabilistic_lse(lam):
        return np.where(empty, 0.0, lam * np.sqrt(lse_score_var + lse_acc_var))

    empty_o = empty[:, None]
    return (
        np.where(empty_o, 0.0, worst_out),
        lambda lam: np.where(empty_o, 0.0, probabilistic_out(lam)),
        lse_worst,
        probabilistic_lse,
    )
