"""Certified exact attention (oracle tier 1), in rigorous ball arithmetic.

Claim (elementary; docs/kernel-contract.md "What correct means"): for query row i of head h,
    out_i = sum_{j visible} exp(s_ij) v_j / sum_{j visible} exp(s_ij),
    lse_i = log sum_{j visible} exp(s_ij),
with s_ij = scale <q_i, k_j> (softcapped as c tanh(. / c)) - slope_h |i + Lk - Lq - j|, kv head
h // (Hq / Hk); a row with no visible key has out = 0 and lse = -inf.

Method: Arb ball arithmetic (python-flint) from the exact input values. Each result is the
midpoint of a ball that is guaranteed to contain the exact value, so the radius is a proven
error bound. The working precision starts from the digits asked for and doubles until every
output is certified to them (or a cap is hit, which raises). Precision is scoped inside this
module and restored on exit.

Domain: any finite inputs and any contract options; cost O(B Hq Lq Lk (D + Dv)) ball operations,
about 2.5 s for Lq = Lk = 1024, D = Dv = 128 at 40 digits on one core.

This file transcribes the contract's visibility and ALiBi rules row by row, independently of
the vectorised rules in visibility.py, so that tier 2 held against tier 1 checks both.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import flint
import mpmath
import numpy as np
from mpmath.libmp import from_man_exp

from attnspec.oracles.attention.problem import AttentionProblem

LOG2_10 = math.log2(10)


@contextmanager
def _arb_precision(bits: int):
    """Scope python-flint's working precision to this block; restore it on exit."""
    saved = flint.ctx.prec
    flint.ctx.prec = bits
    try:
        yield
    finally:
        flint.ctx.prec = saved


@dataclass(frozen=True)
class CertifiedAttention:
    """Certified attention values.

    out [B, Hq, Lq, Dv] and lse [B, Hq, Lq] are object arrays of mpmath mpf midpoints; the exact
    value lies within ``out_radius`` (resp. ``lse_radius``, float64 upper bounds) of them.
    ``out_scale`` [B, Hq, Lq, Dv] is sum_j w_ij |v_jc| (float64): the size of the terms that make
    up each output, the natural scale of its absolute error. ``empty`` [B, Hq, Lq] marks rows with
    no visible key (out exactly 0, lse = -inf). ``digits`` is the fewest decimal digits certified
    over all values: relative digits log10(|x| / radius) where the ball excludes 0, otherwise
    log10(out_scale / radius) (lse: log10(max(|lse|, 1) / radius)).
    """

    out: np.ndarray
    out_radius: np.ndarray
    out_scale: np.ndarray
    lse: np.ndarray
    lse_radius: np.ndarray
    empty: np.ndarray
    digits: float
    precision_bits: int

    def out_double_double(self) -> tuple[np.ndarray, np.ndarray]:
        """(hi, lo) float64 with hi + lo the midpoint to about 32 digits."""
        return _to_double_double(self.out)

    def lse_double_double(self) -> tuple[np.ndarray, np.ndarray]:
        return _to_double_double(self.lse)


def _to_double_double(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hi = np.empty(values.shape)
    lo = np.empty(values.shape)
    with mpmath.mp.workprec(256):
        for idx, x in np.ndenumerate(values):
            h = float(x)
            hi[idx] = h
            lo[idx] = float(x - h) if math.isfinite(h) else 0.0
    return hi, lo


def _visible_interval(i: int, problem: AttentionProblem) -> tuple[int, int]:
    """Keys lo..hi (inclusive) allowed to query row i by causal and window, before the mask."""
    offset = problem.kv_len - problem.q_len
    lo, hi = 0, problem.kv_len - 1
    if problem.causal == "top_left":
        hi = min(hi, i)
    elif problem.causal == "bottom_right":
        hi = min(hi, i + offset)
    if problem.window is not None:
        left, right = problem.window
        if left is not None:
            lo = max(lo, i + offset - left)
        if right is not None:
            hi = min(hi, i + offset + right)
    return lo, hi


def _arb_matrix(rows: np.ndarray) -> flint.arb_mat:
    """Exact arb matrix of a float64 array (doubles convert to arb without rounding)."""
    return flint.arb_mat(rows.tolist())


def _arb_to_mpf(x: flint.arb) -> mpmath.mpf:
    """The ball's midpoint as an mpf, exactly (from_man_exp with prec 0 does not round)."""
    man, exp = x.mid().man_exp()
    return mpmath.mp.make_mpf(from_man_exp(int(man), int(exp)))


def _upper_float(x: flint.arb) -> float:
    """A float64 >= every point of |x| (rounded up, never down)."""
    bound = float(x.abs_upper())
    return bound * (1 + 2.0**-50) if bound else 0.0


def _head(problem: AttentionProblem, b: int, h: int, scale, kT, v_ext):
    """Certified (out, lse, scale) balls for one (batch, query head)."""
    Lq, Lk, Dv = problem.q_len, problem.kv_len, problem.value_dim
    offset = Lk - Lq
    scores = (_arb_matrix(problem.q[b, h]) * kT).entries()  # exact <q_i, k_j>, row-major
    cap = None if problem.softcap is None else flint.arb(problem.softcap)
    slope = None if problem.alibi_slopes is None else flint.arb(problem.alibi_slopes[h])
    mask = None if problem.mask is None else problem.mask[b, h]
    zero = flint.arb(0)

    weights = []
    empty = np.zeros(Lq, dtype=bool)
    for i in range(Lq):
        lo, hi = _visible_interval(i, problem)
        row = scores[i * Lk : (i + 1) * Lk]
        visible_count = 0
        for j in range(Lk):
            if not (lo <= j <= hi) or (mask is not None and not mask[i, j]):
                weights.append(zero)
                continue
            s = row[j] * scale
            if cap is not None:
                s = cap * (s / cap).tanh()
            if slope is not None:
                s = s - slope * abs(i + offset - j)
            weights.append(s.exp())
            visible_count += 1
        empty[i] = visible_count == 0
    w = flint.arb_mat(Lq, Lk, weights)
    sums = (w * v_ext).entries()  # [Lq, Dv + 1]: sum_j w_ij v_jc and, last, sum_j w_ij
    out, lse = [], []
    for i in range(Lq):
        z = sums[i * (Dv + 1) + Dv]
        if empty[i]:
            out.extend([zero] * Dv)
            lse.append(None)
        else:
            out.extend(sums[i * (Dv + 1) + c] / z for c in range(Dv))
            lse.append(z.log())
    return w, out, lse, empty


def certified_attention(
    problem: AttentionProblem, *, digits: float = 40, max_precision_bits: int = 4096
) -> CertifiedAttention:
    """Exact attention of ``problem`` with at least ``digits`` certified decimal digits.

    Raises ArithmeticError if ``max_precision_bits`` does not suffice (extreme cancellation).
    """
    if digits <= 0:
        raise ValueError(f"digits must be positive, got {digits}")
    # Guard bits: the ball operations lose a few bits per step and log2(Lk) in the sums.
    bits = int(math.ceil(digits * LOG2_10)) + 32 + int(math.log2(problem.kv_len + 1))
    return certify_doubling(lambda b: _certify_at(problem, b), digits, bits, max_precision_bits)


def certify_doubling(attempt, digits: float, bits: int, max_precision_bits: int):
    """``attempt(bits)`` at ``bits`` (capped), doubling the precision until the result's
    ``digits`` reach ``digits``; ArithmeticError once the cap does not suffice."""
    bits = min(bits, max_precision_bits)
    while True:
        result = attempt(bits)
        if result.digits >= digits:
            return result
        if bits >= max_precision_bits:
            raise ArithmeticError(
                f"only {result.digits:.1f} of {digits} digits certified at {bits} bits"
            )
        bits = min(2 * bits, max_precision_bits)


def _certify_at(problem: AttentionProblem, bits: int) -> CertifiedAttention:
    B, Hq, Lq, Dv = problem.batch, problem.q_heads, problem.q_len, problem.value_dim
    out = np.empty((B, Hq, Lq, Dv), dtype=object)
    out_radius = np.zeros((B, Hq, Lq, Dv))
    out_scale = np.zeros((B, Hq, Lq, Dv))
    lse = np.empty((B, Hq, Lq), dtype=object)
    lse_radius = np.zeros((B, Hq, Lq))
    empty = np.zeros((B, Hq, Lq), dtype=bool)
    fewest_digits = math.inf

    with _arb_precision(bits):
        if problem.scale is None:
            scale = flint.arb(problem.head_dim).rsqrt()
        else:
            scale = flint.arb(problem.scale)
        ones = np.ones((problem.kv_len, 1))
        for b in range(B):
            for g in range(problem.kv_heads):
                kT = _arb_matrix(problem.k[b, g].T)
                v_ext = _arb_matrix(np.hstack([problem.v[b, g], ones]))
                abs_v = None
                for h in range(g * problem.group_size, (g + 1) * problem.group_size):
                    w, o, l, e = _head(problem, b, h, scale, kT, v_ext)
                    empty[b, h] = e
                    # sum_j w_ij |v_jc| / sum_j w_ij: the scale of each output's terms.
                    if abs_v is None:
                        abs_v = _arb_matrix(np.hstack([np.abs(problem.v[b, g]), ones]))
                    mags = (w * abs_v).entries()
                    for i in range(Lq):
                        z = mags[i * (Dv + 1) + Dv]
                        for c in range(Dv):
                            x = o[i * Dv + c]
                            out[b, h, i, c] = _arb_to_mpf(x)
                            rad = _upper_float(x.rad())
                            out_radius[b, h, i, c] = rad
                            sc = 0.0 if e[i] else float(mags[i * (Dv + 1) + c] / z)
                            out_scale[b, h, i, c] = sc
                            fewest_digits = min(fewest_digits, _digits(x, rad, sc))
                        if e[i]:
                            lse[b, h, i] = mpmath.mpf("-inf")
                        else:
                            y = l[i]
                            lse[b, h, i] = _arb_to_mpf(y)
                            rad = _upper_float(y.rad())
                            lse_radius[b, h, i] = rad
                            fewest_digits = min(
                                fewest_digits, _digits(y, rad, 1.0, absolute_floor=1.0)
                            )
    return CertifiedAttention(
        out, out_radius, out_scale, lse, lse_radius, empty, fewest_digits, bits
    )


def _digits(x: flint.arb, radius: float, scale: float, absolute_floor: float = 0.0) -> float:
    """Certified decimal digits of ball x: relative where it excludes 0, else against scale."""
    if radius == 0.0:
        return math.inf
    magnitude = float(abs(x.mid()))
    if absolute_floor:
        return math.log10(max(magnitude, absolute_floor) / radius)
    if magnitude > radius:
        return math.log10(magnitude / radius)
    if scale == 0.0:
        return -math.inf
    return math.log10(scale / radius)
