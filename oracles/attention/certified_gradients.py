"""Certified exact gradients of attention (oracle tier 1), in rigorous ball arithmetic.

Claim (elementary calculus; docs/kernel-contract.md "Gradients", formulas in
gradient_problem.py): for L = <dO, out> + <dlse, lse>, per batch b and query head h reading kv
head g = h // (Hq / Hk), with P_ij = w_ij / sum_j w_ij over visible keys (w = exp(s), 0 hidden),
    O = P V,  dP = dO V^T,  D_i = sum_c dO_ic O_ic - dlse_i,  dS = P o (dP - D),
    dR = dS o (1 - tanh^2(r / c)) under softcap c (r = scale <q, k>), else dR = dS,
    dQ_h = scale dR K_g,  dK_g = sum_h scale dR^T Q_h,  dV_g = sum_h P^T dO_h
(sums over the query heads of kv head g). A row with no visible key contributes nothing: its
P row, dS row and dQ row are exactly 0 and its dlse is ignored (its lse is -inf).

Method: Arb ball arithmetic (python-flint) from the exact float64 inputs, as certified.py does
for the forward: scores, weights and the six matrix products (Q K^T, P V, dO V^T, dR K, dR^T Q,
P^T dO) are arb balls and arb_mat products; only the elementwise steps (exp, tanh, the
normalisation, dS, dR) loop in Python over the Lq x Lk entries. Each result is the midpoint of a
ball proven to contain the exact value, so the radius is a proven error bound. Precision starts
from the digits asked for plus guard bits and doubles until every element is certified to them
(or a cap is hit, which raises ArithmeticError). Precision is scoped inside this module.

Natural scales (for the digits, and for callers' error measures): the
sizes of the terms each element is a sum of, with every difference expanded, never the size of
the result (which may be 0: with Lk = 1, dQ = dK = 0 exactly when dlse = 0). With
    A_ij = P_ij (sum_c |dO_ic| |v_jc| + sum_c |dO_ic| (P |V|)_ic + |dlse_i|) |1 - tanh^2(r_ij/c)|
(A bounds the terms of dR_ij; the softcap factor, evaluated as sech^2 to avoid cancelling
1 - tanh^2 where tanh saturates, is 1 without softcap):
    dq: |scale| sum_j A_ij |k_jc|,  dk: |scale| sum_{h,i} A_ij |q_ic|,  dv: sum_{h,i} P_ij |dO_ic|.
They are float64 (0 where they fall below the float64 range). ``digits`` is the fewest
certified decimal digits over all elements, log10(max(|mid|, scale) / radius): the error
against the larger of the value and its terms, the measure every budget uses (a gradient that
cancels to 1e-1228 from terms of size 1, where one key holds all the weight, is certified to
~1230 digits of its terms, not to 4 of itself). Evaluated in arb, so that values outside the
float64 range (weights of e^-1000) do not underflow into false claims.

Domain: any finite inputs and any contract options. Cost O(B Hq Lq Lk (D + Dv)) ball operations
(eleven arb_mat products per query head, six for the gradients and five at 64 bits for the
scales) plus Python loops over the Lq x Lk entries and over the (Lq + 2 Lk) D output elements.
Measured on one core at digits = 30 (148 bits), B = Hq = Hk = 1, D = Dv = 64, random inputs:
Lq = Lk = 128: 0.26 s (causal) to 0.33 s (softcap and ALiBi); Lq = Lk = 256: 0.74 s (causal) to
1.03 s (softcap and ALiBi), 3 to 4 times certified_attention at the same size. About half is the
per-element conversion of the output balls (mpf midpoint, float64 radius, digits).

This file transcribes the contract's visibility and ALiBi rules row by row (certified.py's
_visible_interval), independently of the vectorised rules in visibility.py.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import flint
import numpy as np
from attnspec.oracles.attention.certified import (
    LOG2_10,
    certify_doubling,
    _arb_matrix,
    _arb_precision,
    _arb_to_mpf,
    _upper_float,
    _visible_interval,
)
from attnspec.oracles.attention.gradient_problem import GradientProblem

NAMES = ("dq", "dk", "dv")
# The magnitudes behind the natural scales need only a few correct digits.
_SCALE_BITS = 64


@dataclass(frozen=True)
class CertifiedGradients:
    """Certified gradients of L = <dO, out> + <dlse, lse> with respect to q, k and v.

    dq [B, Hq, Lq, D], dk [B, Hk, Lk, D], dv [B, Hk, Lk, Dv] are object arrays of mpmath mpf
    midpoints; the exact value lies within ``dq_radius`` (etc., float64 upper bounds, same
    shapes) of them. ``scales`` maps "dq", "dk", "dv" to the natural scale of each element
    (float64, module docstring). ``empty`` [B, Hq, Lq] marks rows with no visible key (dq row
    exactly 0). ``digits`` is the fewest certified decimal digits over all elements.
    """

    dq: np.ndarray
    dk: np.ndarray
    dv: np.ndarray
    dq_radius: np.ndarray
    dk_radius: np.ndarray
    dv_radius: np.ndarray
    scales: dict[str, np.ndarray]
    empty: np.ndarray
    digits: float
    precision_bits: int

    def as_float64(self) -> dict[str, np.ndarray]:
        """{"dq", "dk", "dv"}: the float64 nearest each midpoint."""
        out = {}
        for name in NAMES:
            mids = getattr(self, name)
            values = [float(x) for x in mids.flat]  # mpf -> float64 rounds to nearest
            out[name] = np.array(values, dtype=np.float64).reshape(mids.shape)
        return out


def certified_gradients(
    problem: GradientProblem, *, digits: float = 30, max_precision_bits: int = 4096
) -> CertifiedGradients:
    """Exact gradients of ``problem`` with at least ``digits`` certified decimal digits.

    Raises ArithmeticError if ``max_precision_bits`` does not suffice (extreme cancellation).
    """
    if digits <= 0:
        raise ValueError(f"digits must be positive, got {digits}")
    p = problem.forward
    # Guard bits: a few per ball operation, log2 of the lengths summed over (keys in P V and in
    # the normalisation, query rows of a kv group in dK and dV).
    bits = (
        math.ceil(digits * LOG2_10)
        + 32
        + int(math.log2(p.kv_len + 1))
        + int(math.log2(p.group_size * p.q_len + 1))
    )
    return certify_doubling(lambda b: _certify_at(problem, b), digits, bits, max_precision_bits)


def _radius(x: flint.arb) -> float:
    """A float64 >= the radius of x, also where the radius is below the float64 range."""
    rad = x.rad()
    bound = _upper_float(rad)
    if bound < sys.float_info.min and not rad.is_zero():
        # float() rounded to nearest (within half an ulp), so the next float is above it.
        bound = math.nextafter(bound, math.inf)
    return bound


def _element_digits(x: flint.arb, scale: flint.arb) -> float:
    """Certified decimal digits of ball x against the larger of |x| and its natural scale:
    log10(max(|mid|, scale) / radius). A gradient can cancel to far below the size of its
    terms (1e-1228 from terms of size 1, where one key holds all the weight); its error, and
    every budget that judges it, are measured against the terms.

    Evaluated in arb: no step underflows or overflows float64.
    """
    rad = x.rad()
    if rad.is_zero():
        return math.inf
    size = max(abs(x.mid()), abs(scale.mid()))
    if size.is_zero():
        return -math.inf
    return float((size / rad).log()) / math.log(10)


def _head(problem: GradientProblem, b: int, h: int, scale, consts):
    """One (batch, query head): Q_h [Lq, D], dO_h [Lq, Dv] and |dO_h| as arb_mat; the balls
    P and dR [Lq, Lk]; A [Lq, Lk], the magnitudes of dR's terms (64 bits); empty rows [Lq]."""
    p = problem.forward
    Lq, Lk, Dv = p.q_len, p.kv_len, p.value_dim
    offset = Lk - Lq
    _, kT, V, vT, absVT, absV, cap, zero, one = consts
    q_h = _arb_matrix(p.q[b, h])  # [Lq, D]
    d_out = _arb_matrix(problem.d_out[b, h])  # [Lq, Dv]
    d_lse = problem.d_lse_or_zeros()[b, h]  # [Lq]
    scores = (q_h * kT).entries()  # [Lq, Lk] row-major: exact <q_i, k_j> (up to the precision)
    slope = None if p.alibi_slopes is None else flint.arb(p.alibi_slopes[h])
    mask = None if p.mask is None else p.mask[b, h]

    # Weights and softcap factors, visibility transcribed row by row.
    probs = [zero] * (Lq * Lk)
    factors = {}  # (i, j) -> 1 - tanh^2(r_ij / c), under softcap only
    visible_rows = []  # per row: the visible key indices
    empty = np.zeros(Lq, dtype=bool)
    for i in range(Lq):
        lo, hi = _visible_interval(i, p)
        js = [j for j in range(lo, hi + 1) if mask is None or mask[i, j]]
        visible_rows.append(js)
        if not js:
            empty[i] = True
            continue
        weights = []
        for j in js:
            s = scores[i * Lk + j] * scale
            if cap is not None:
                x = s / cap
                # 1 - tanh^2 as sech^2: no cancellation where tanh saturates (|x| ~ 1e4
                # would need ~3e4 bits through 1 - t * t)
                factors[i, j] = one / (x.cosh() ** 2)
                s = cap * x.tanh()
            if slope is not None:
                s = s - slope * abs(i + offset - j)
            weights.append(s.exp())
        z = sum(weights[1:], weights[0])
        for j, w in zip(js, weights):
            probs[i * Lk + j] = w / z
    P = flint.arb_mat(Lq, Lk, probs)

    out = (P * V).entries()  # [Lq, Dv]: O = P V
    dp = (d_out * vT).entries()  # [Lq, Lk]: dP = dO V^T
    d_out_rows = problem.d_out[b, h]
    dr = [zero] * (Lq * Lk)
    for i in range(Lq):
        if empty[i]:
            continue
        delta = sum(
            (out[i * Dv + c] * d_out_rows[i, c] for c in range(Dv)), zero
        ) - flint.arb(d_lse[i])
        for j in visible_rows[i]:
            x = probs[i * Lk + j] * (dp[i * Lk + j] - delta)
            if cap is not None:
                x = x * factors[i, j]
            dr[i * Lk + j] = x
    dR = flint.arb_mat(Lq, Lk, dr)

    # Magnitudes of the terms of dR (low precision: they only size the natural scales).
    abs_d_out_rows = np.abs(d_out_rows)
    with _arb_precision(_SCALE_BITS):
        abs_d_out = _arb_matrix(abs_d_out_rows)
        dp_terms = (abs_d_out * absVT).entries()  # [Lq, Lk]: sum_c |dO_ic| |v_jc|
        o_terms = (P * absV).entries()  # [Lq, Dv]: sum_j P_ij |v_jc|
        mags = [zero] * (Lq * Lk)
        for i in range(Lq):
            if empty[i]:
                continue
            d_terms = sum(
                (o_terms[i * Dv + c] * abs_d_out_rows[i, c] for c in range(Dv)), zero
            ) + abs(d_lse[i])
            for j in visible_rows[i]:
                m = probs[i * Lk + j] * (dp_terms[i * Lk + j] + d_terms)
                if cap is not None:
                    m = m * abs(factors[i, j])
                mags[i * Lk + j] = m
        A = flint.arb_mat(Lq, Lk, mags)
    return q_h, d_out, abs_d_out, P, dR, A, empty


def _certify_at(problem: GradientProblem, bits: int) -> CertifiedGradients:
    p = problem.forward
    B, Hq, Hk = p.batch, p.q_heads, p.kv_heads
    Lq, Lk, D, Dv = p.q_len, p.kv_len, p.head_dim, p.value_dim
    shapes = {"dq": (B, Hq, Lq, D), "dk": (B, Hk, Lk, D), "dv": (B, Hk, Lk, Dv)}
    mids = {n: np.empty(s, dtype=object) for n, s in shapes.items()}
    radii = {n: np.zeros(s) for n, s in shapes.items()}
    scales = {n: np.zeros(s) for n, s in shapes.items()}
    empty = np.zeros((B, Hq, Lq), dtype=bool)
    fewest_digits = math.inf

    def record(name, index, balls, sizes, rows, cols):
        nonlocal fewest_digits
        for r in range(rows):
            for c in range(cols):
                x, size = balls[r * cols + c], sizes[r * cols + c]
                at = (*index, r, c)
                mids[name][at] = _arb_to_mpf(x)
                radii[name][at] = _radius(x)
                scales[name][at] = float(size.mid())
                fewest_digits = min(fewest_digits, _element_digits(x, size))

    with _arb_precision(bits):
        if p.scale is None:
            scale = flint.arb(p.head_dim).rsqrt()
        else:
            scale = flint.arb(p.scale)
        cap = None if p.softcap is None else flint.arb(p.softcap)
        zero, one = flint.arb(0), flint.arb(1)
        for b in range(B):
            for g in range(Hk):
                K = _arb_matrix(p.k[b, g])  # [Lk, D]
                V = _arb_matrix(p.v[b, g])  # [Lk, Dv]
                absK = _arb_matrix(np.abs(p.k[b, g]))
                absV = _arb_matrix(np.abs(p.v[b, g]))
                consts = (K, K.transpose(), V, V.transpose(), absV.transpose(), absV, cap,
                          zero, one)
                dK = flint.arb_mat(Lk, D)  # sum over the group of dR^T Q, times scale below
                dV = flint.arb_mat(Lk, Dv)
                dK_size = dV_size = None
                for h in range(g * p.group_size, (g + 1) * p.group_size):
                    q_h, d_out, abs_d_out, P, dR, A, e = _head(problem, b, h, scale, consts)
                    empty[b, h] = e
                    dQ = (dR * K) * scale  # [Lq, D]
                    dK += dR.transpose() * q_h
                    dV += P.transpose() * d_out
                    with _arb_precision(_SCALE_BITS):
                        dQ_size = (A * absK) * abs(scale)
                        AtQ = A.transpose() * _arb_matrix(np.abs(p.q[b, h]))
                        PtdO = P.transpose() * abs_d_out
                        dK_size = AtQ if dK_size is None else dK_size + AtQ
                        dV_size = PtdO if dV_size is None else dV_size + PtdO
                    record("dq", (b, h), dQ.entries(), dQ_size.entries(), Lq, D)
                dK = dK * scale
                with _arb_precision(_SCALE_BITS):
                    dK_size = dK_size * abs(scale)
                record("dk", (b, g), dK.entries(), dK_size.entries(), Lk, D)
                record("dv", (b, g), dV.entries(), dV_size.entries(), Lk, Dv)
    return CertifiedGradients(
        mids["dq"], mids["dk"], mids["dv"],
        radii["dq"], radii["dk"], radii["dv"],
        scales, empty, fewest_digits, bits,
    )
