"""Tier 1 gradients (certified_gradients) against independent references.

1. A third, independent implementation: a tiny float64 torch attention written here (its own
   masks, ALiBi, softcap, GQA by repeat_interleave, safe softmax for empty rows), itself checked
   by finite differences (torch.autograd.gradcheck); its autograd gradients of
   L = <dO, out> + <dlse, lse> must match the oracle to float64 accuracy.
2. Closed forms derived by hand from the contract (Lk = 1, two equal keys) and the identities
   sum_j dK_j = scale sum_i dlse_i q_i and sum_j dV_j = sum_i dO_i, evaluated in mpmath.
3. The digits claim, and precision scoped inside the oracle.
"""

from __future__ import annotations

import math

import flint
import mpmath
import numpy as np
import pytest
import torch
from attnspec.oracles.attention.certified_gradients import certified_gradients
from attnspec.oracles.attention.gradient_problem import GradientProblem
from attnspec.oracles.attention.problem import AttentionProblem

EPS = np.finfo(np.float64).eps
# Float64 tolerance of torch's autograd against the (certified) oracle, relative to the natural
# scale (the sum of the magnitudes of the terms of each gradient element, as the oracle reports
# it). Each element is a chain of float64 dot products and sums over at most Lk, Lq * group, D
# or Dv <= 8 terms here, plus exp, tanh and a division; each step errs by at most (terms + 2) u
# of the magnitudes of its terms, and an error e in a score becomes a relative error e in the
# weight through exp (|scores| <= ~10 here, scores carry D u |scale| sum |q||k|). Summed over
# the ~6 steps of the chain this stays below ~100 u. Softcap adds 1 - t^2 with t = tanh(r / c)
# rounded: its error is u relative to 1, i.e. u / (1 - t^2) relative to the factor (<= ~30 u at
# |r / c| <= 2 here). 256 u leaves a margin. (Observed over 20 seeds of every case below: at most
# 22 u, in the softcap case; at most 8 u elsewhere.)
TORCH_TOLERANCE = 256 * EPS
# The closed forms are evaluated in mpmath at 60 digits; their own rounding is below this,
# relative to the sum of the magnitudes of their terms.
CLOSED_FORM_SLACK = 1e-50


# ----------------------------------------------------------------------------------------------
# The third implementation: float64 torch, written from the contract, independent of oracles/.


def torch_attention(q, k, v, *, scale=None, causal=None, alibi_slopes=None, mask=None,
                    window=None, softcap=None):
    """q [B, Hq, Lq, D], k [B, Hk, Lk, D], v [B, Hk, Lk, Dv] float64 tensors ->
    (out [B, Hq, Lq, Dv], lse [B, Hq, Lq] with -inf on empty rows, empty [B, Hq, Lq])."""
    B, Hq, Lq, D = q.shape
    Hk, Lk = k.shape[1], k.shape[2]
    k = k.repeat_interleave(Hq // Hk, dim=1)  # query head h reads kv head h // (Hq / Hk)
    v = v.repeat_interleave(Hq // Hk, dim=1)
    sc = 1 / math.sqrt(D) if scale is None else scale
    s = sc * (q @ k.transpose(-1, -2))  # [B, Hq, Lq, Lk]
    if softcap is not None:
        s = softcap * torch.tanh(s / softcap)
    i = torch.arange(Lq).reshape(Lq, 1)
    j = torch.arange(Lk).reshape(1, Lk)
    offset = Lk - Lq
    if alibi_slopes is not None:
        slopes = torch.tensor(alibi_slopes, dtype=torch.float64).reshape(1, Hq, 1, 1)
        s = s - slopes * (i + offset - j).abs().to(torch.float64)
    allowed = torch.ones(B, Hq, Lq, Lk, dtype=torch.bool)
    if causal == "top_left":
        allowed = allowed & (j <= i)
    elif causal == "bottom_right":
        allowed = allowed & (j <= i + offset)
    if window is not None:
        left, right = window
        if left is not None:
            allowed = allowed & (j >= i + offset - left)
        if right is not None:
            allowed = allowed & (j <= i + offset + right)
    if mask is not None:
        allowed = allowed & torch.from_numpy(np.broadcast_to(mask, (B, Hq, Lq, Lk)).copy())
    empty = ~allowed.any(dim=-1)
    s = s.masked_fill(~allowed, -math.inf)
    # Safe softmax: an empty row is all -inf; give it finite scores, then zero its weights.
    s = torch.where(empty.unsqueeze(-1), torch.zeros_like(s), s)
    p = torch.softmax(s, dim=-1) * allowed
    out = p @ v
    lse = torch.where(empty, -math.inf, torch.logsumexp(s, dim=-1))
    return out, lse, empty


def torch_loss(q, k, v, d_out, d_lse, options):
    out, lse, empty = torch_attention(q, k, v, **options)
    lse_term = torch.where(empty, torch.zeros_like(lse), d_lse * lse)  # empty rows take no dlse
    return (d_out * out).sum() + lse_term.sum()


def torch_gradients(p: AttentionProblem, d_out, d_lse, options):
    q, k, v = (torch.tensor(x, requires_grad=True) for x in (p.q, p.k, p.v))
    torch_loss(q, k, v, torch.tensor(d_out), torch.tensor(d_lse), options).backward()
    return {"dq": q.grad.numpy(), "dk": k.grad.numpy(), "dv": v.grad.numpy()}


def make(rng, B=1, Hq=1, Hk=1, Lq=3, Lk=5, D=4, Dv=3, with_dlse=True, **options):
    q = rng.standard_normal((B, Hq, Lq, D))
    k = rng.standard_normal((B, Hk, Lk, D))
    v = rng.standard_normal((B, Hk, Lk, Dv))
    d_out = rng.standard_normal((B, Hq, Lq, Dv))
    d_lse = rng.standard_normal((B, Hq, Lq)) if with_dlse else np.zeros((B, Hq, Lq))
    p = AttentionProblem.build(q, k, v, **options)
    return p, d_out, d_lse, GradientProblem.build(p, d_out, d_lse if with_dlse else None)


def empty_row_mask(B=2, Hq=2, Lq=4, Lk=5, row=1):
    mask = np.random.default_rng(11).random((B, 1, Lq, Lk)) < 0.6
    mask[..., 0] = True  # every other row sees at least key 0
    mask[:, :, row, :] = False  # a fully masked row
    return mask


CASES = {
    "plain": dict(B=2, Lq=3, Lk=5, with_dlse=False),
    "gqa": dict(Hq=4, Hk=2, Lq=3, Lk=4),
    "mqa": dict(Hq=3, Hk=1, Lq=4, Lk=3),
    "top_left_Lq<Lk": dict(Hq=2, Hk=1, Lq=3, Lk=5, causal="top_left"),
    "top_left_Lq>Lk": dict(Lq=5, Lk=3, causal="top_left"),
    "bottom_right_Lq<Lk": dict(Lq=3, Lk=5, causal="bottom_right"),
    "bottom_right_Lq>Lk": dict(Hq=2, Hk=1, Lq=5, Lk=3, causal="bottom_right"),  # empty rows
    "window": dict(Lq=4, Lk=6, window=(1, 0)),
    "window_two_sided": dict(Lq=6, Lk=4, window=(2, 1), with_dlse=False),
    "mask_empty_row": dict(B=2, Hq=2, Lq=4, Lk=5, mask=empty_row_mask()),
    "alibi": dict(Hq=2, Hk=1, Lq=4, Lk=6, alibi_slopes=np.array([0.5, 0.125])),
    "softcap": dict(Lq=4, Lk=5, scale=1.5, softcap=2.0),
    "softcap_alibi_gqa_causal": dict(Hq=4, Hk=2, Lq=4, Lk=5, softcap=1.25, causal="bottom_right",
                                     alibi_slopes=np.array([0.25, 0.5, 1.0, 2.0])),
    "negative_scale": dict(Lq=3, Lk=4, scale=-0.75),
    "explicit_scale": dict(Lq=3, Lk=4, scale=0.3),
    "Lq=1": dict(Hq=2, Hk=2, Lq=1, Lk=6),
    "Lk=1": dict(Hq=2, Hk=1, Lq=4, Lk=1),
}
OPTION_KEYS = ("scale", "causal", "alibi_slopes", "mask", "window", "softcap")


def split(case):
    shape = {key: val for key, val in case.items() if key not in OPTION_KEYS}
    options = {key: val for key, val in case.items() if key in OPTION_KEYS}
    return shape, options


@pytest.mark.parametrize(
    "name", ["gqa", "bottom_right_Lq>Lk", "mask_empty_row", "softcap_alibi_gqa_causal",
             "window_two_sided", "negative_scale", "Lq=1", "Lk=1"]
)
def test_the_torch_reference_passes_gradcheck(name):
    """Finite differences vouch for the third implementation's autograd gradients."""
    shape, options = split(CASES[name])
    shape = {**shape, "D": 2, "Dv": 2}
    p, _, _, _ = make(np.random.default_rng(1), **shape, **options)
    inputs = tuple(torch.tensor(x, requires_grad=True) for x in (p.q, p.k, p.v))

    def f(q, k, v):
        out, lse, empty = torch_attention(q, k, v, **options)
        return out, torch.where(empty, torch.zeros_like(lse), lse)  # finite for differences

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("name", list(CASES))
def test_oracle_matches_the_torch_reference(name):
    shape, options = split(CASES[name])
    p, d_out, d_lse, gp = make(np.random.default_rng(2), **shape, **options)
    r = certified_gradients(gp, digits=30)
    expected = torch_gradients(p, d_out, d_lse, options)
    got = r.as_float64()
    for key in ("dq", "dk", "dv"):
        assert not np.any(np.isnan(expected[key])) and not np.any(np.isnan(got[key]))
        err = np.abs(got[key] - expected[key])
        bound = TORCH_TOLERANCE * r.scales[key] + getattr(r, f"{key}_radius")
        assert np.all(err <= bound), (key, np.max(err / np.maximum(r.scales[key], 1e-300)))
    assert r.digits >= 30


def test_a_fully_masked_row_has_a_zero_dq_row_and_no_nan():
    shape, options = split(CASES["mask_empty_row"])
    p, d_out, d_lse, gp = make(np.random.default_rng(3), **shape, **options)
    r = certified_gradients(gp, digits=30)
    assert r.empty[:, :, 1].all() and not r.empty[:, :, [0, 2, 3]].any()
    assert all(x == 0 for x in r.dq[:, :, 1, :].flat)  # exactly, not within a radius
    assert np.all(r.dq_radius[:, :, 1, :] == 0) and np.all(r.scales["dq"][:, :, 1, :] == 0)
    for key in ("dq", "dk", "dv"):
        assert not any(mpmath.isnan(x) for x in getattr(r, key).flat)
        assert np.all(np.isfinite(getattr(r, f"{key}_radius")))
    expected = torch_gradients(p, d_out, d_lse, options)
    assert np.all(expected["dq"][:, :, 1, :] == 0)
    assert not any(np.isnan(g).any() for g in expected.values())


# ----------------------------------------------------------------------------------------------
# Closed forms, in mpmath at 60 digits.


def mp(x):
    return mpmath.mpf(float(x))


def assert_in_ball(value, mid, radius, size):
    """``value`` (a closed form at 60 digits, terms of magnitude ``size``) lies in the ball."""
    with mpmath.mp.workdps(60):
        slack = CLOSED_FORM_SLACK * (size + 1e-300)
        assert abs(mid - value) <= radius + slack, (value, mid, radius)


@pytest.mark.parametrize("with_dlse", [False, True])
@pytest.mark.parametrize("softcap", [None, 2.0])
@pytest.mark.parametrize("scale", [0.625, None])  # None: exactly 1/sqrt(3), not its float64
def test_one_key(with_dlse, softcap, scale):
    """Lk = 1: P = 1, O_i = v_0, dP_i0 = dO_i . v_0, D_i = dO_i . v_0 - dlse_i, so
    dS_i0 = dlse_i, dR_i0 = dlse_i (1 - tanh^2(scale <q_i, k_0> / c)) under softcap, and
    dQ_i = scale dR_i0 k_0,  dK_0 = scale sum_{h, i} dR_i0 q_i,  dV_0 = sum_{h, i} dO_i
    (h over the two query heads of the one kv head): dQ = dK = 0 when dlse = 0."""
    p, d_out, d_lse, gp = make(np.random.default_rng(4), Hq=2, Hk=1, Lq=3, Lk=1, D=3, Dv=3,
                               with_dlse=with_dlse, scale=scale, softcap=softcap)
    r = certified_gradients(gp, digits=30)
    with mpmath.mp.workdps(60):
        scale = 1 / mpmath.sqrt(3) if scale is None else scale
        k0 = [mp(x) for x in p.k[0, 0, 0]]
        dR = {}
        for h in range(2):
            for i in range(3):
                x = mp(d_lse[0, h, i])
                if softcap is not None:
                    r_ = scale * mpmath.fsum(mp(a) * b for a, b in zip(p.q[0, h, i], k0))
                    x *= 1 - mpmath.tanh(r_ / mp(softcap)) ** 2
                dR[h, i] = x
                for c in range(3):  # D
                    assert_in_ball(scale * x * k0[c], r.dq[0, h, i, c], r.dq_radius[0, h, i, c],
                                   r.scales["dq"][0, h, i, c])
        for c in range(3):  # D
            terms = [scale * dR[h, i] * mp(p.q[0, h, i, c]) for h in range(2) for i in range(3)]
            assert_in_ball(mpmath.fsum(terms), r.dk[0, 0, 0, c], r.dk_radius[0, 0, 0, c],
                           r.scales["dk"][0, 0, 0, c])
        for c in range(3):  # Dv
            terms = [mp(d_out[0, h, i, c]) for h in range(2) for i in range(3)]
            assert_in_ball(mpmath.fsum(terms), r.dv[0, 0, 0, c], r.dv_radius[0, 0, 0, c],
                           sum(abs(t) for t in terms))
    if not with_dlse:
        assert all(abs(x) <= rad for x, rad in zip(r.dq.flat, r.dq_radius.flat))
        assert all(abs(x) <= rad for x, rad in zip(r.dk.flat, r.dk_radius.flat))
    assert r.digits >= 30


def test_two_equal_keys():
    """k_1 = k_0: equal scores, P_i0 = P_i1 = 1/2, O_i = (v_0 + v_1) / 2, and with
    a_i = dO_i . (v_0 - v_1) / 2:  dS_i0 = (a_i + dlse_i) / 2,  dS_i1 = (-a_i + dlse_i) / 2, so
    dQ_i = scale dlse_i k_0,  dK_j = scale sum_i dS_ij q_i,  dV_j = sum_i dO_i / 2."""
    rng = np.random.default_rng(5)
    scale = 0.375
    q = rng.standard_normal((1, 1, 3, 4))
    key = rng.standard_normal(4)
    k = np.stack([key, key]).reshape(1, 1, 2, 4)
    v = rng.standard_normal((1, 1, 2, 3))
    d_out = rng.standard_normal((1, 1, 3, 3))
    d_lse = rng.standard_normal((1, 1, 3))
    gp = GradientProblem.build(AttentionProblem.build(q, k, v, scale=scale), d_out, d_lse)
    r = certified_gradients(gp, digits=30)
    with mpmath.mp.workdps(60):
        dS = {}
        for i in range(3):
            a = mpmath.fsum(mp(d_out[0, 0, i, c]) * (mp(v[0, 0, 0, c]) - mp(v[0, 0, 1, c]))
                            for c in range(3)) / 2
            dS[i, 0] = (a + mp(d_lse[0, 0, i])) / 2
            dS[i, 1] = (-a + mp(d_lse[0, 0, i])) / 2
            for c in range(4):
                assert_in_ball(scale * mp(d_lse[0, 0, i]) * mp(key[c]), r.dq[0, 0, i, c],
                               r.dq_radius[0, 0, i, c], r.scales["dq"][0, 0, i, c])
        for j in range(2):
            for c in range(4):
                value = scale * mpmath.fsum(dS[i, j] * mp(q[0, 0, i, c]) for i in range(3))
                assert_in_ball(value, r.dk[0, 0, j, c], r.dk_radius[0, 0, j, c],
                               r.scales["dk"][0, 0, j, c])
            for c in range(3):
                value = mpmath.fsum(mp(d_out[0, 0, i, c]) for i in range(3)) / 2
                assert_in_ball(value, r.dv[0, 0, j, c], r.dv_radius[0, 0, j, c],
                               r.scales["dv"][0, 0, j, c])


@pytest.mark.parametrize("with_dlse", [False, True])
def test_sums_over_keys(with_dlse):
    """sum_j dS_ij = sum_j P_ij dP_ij - D_i = dO_i . O_i - D_i = dlse_i on a non-empty row, so
    without softcap sum_j dK_j = scale sum_{h, i non-empty} dlse_i q_i (0 when dlse = 0); and
    sum_j dV_j = sum_{h, i non-empty} dO_i since each non-empty P row sums to 1 (h over the
    query heads of the kv head). Checked with GQA, ALiBi and causal rows that see nothing."""
    scale = 0.5
    p, d_out, d_lse, gp = make(np.random.default_rng(6), B=2, Hq=4, Hk=2, Lq=5, Lk=3, D=4, Dv=3,
                               with_dlse=with_dlse, scale=scale, causal="bottom_right",
                               alibi_slopes=np.array([0.5, 0.25, 1.0, 2.0]))
    r = certified_gradients(gp, digits=30)
    assert r.empty[:, :, :2].all() and not r.empty[:, :, 2:].any()  # rows 0, 1 see no key
    with mpmath.mp.workprec(4 * r.precision_bits):  # the midpoints sum exactly at this width
        for b in range(2):
            for g in range(2):
                heads = range(2 * g, 2 * g + 2)
                rows = [(h, i) for h in heads for i in range(5) if not r.empty[b, h, i]]
                for c in range(4):
                    expected = scale * mpmath.fsum(mp(d_lse[b, h, i]) * mp(p.q[b, h, i, c])
                                                       for h, i in rows)
                    total = mpmath.fsum(r.dk[b, g, j, c] for j in range(3))
                    radius = sum(r.dk_radius[b, g, j, c] for j in range(3))
                    assert abs(total - expected) <= radius + CLOSED_FORM_SLACK * abs(expected)
                for c in range(3):
                    expected = mpmath.fsum(mp(d_out[b, h, i, c]) for h, i in rows)
                    total = mpmath.fsum(r.dv[b, g, j, c] for j in range(3))
                    radius = sum(r.dv_radius[b, g, j, c] for j in range(3))
                    assert abs(total - expected) <= radius


# ----------------------------------------------------------------------------------------------
# The digits claim.


def test_digits_are_certified_and_precision_is_restored():
    flint_prec, mp_prec = flint.ctx.prec, mpmath.mp.prec
    _, _, _, gp = make(np.random.default_rng(7), Hq=2, Hk=1, Lq=4, Lk=6, D=5, Dv=3,
                       causal="bottom_right", softcap=3.0, alibi_slopes=np.array([0.5, 0.25]))
    low = certified_gradients(gp, digits=30)
    high = certified_gradients(gp, digits=60)
    assert (flint.ctx.prec, mpmath.mp.prec) == (flint_prec, mp_prec)
    assert low.digits >= 30 and high.digits >= 60
    for key in ("dq", "dk", "dv"):
        mids, radius, size = getattr(low, key), getattr(low, f"{key}_radius"), low.scales[key]
        magnitude = np.abs(mids.astype(float))
        # 30 digits: relative to the value, or to the natural scale where the ball holds 0.
        assert np.all(radius <= 1e-30 * np.maximum(magnitude, size))
        # The 30-digit ball holds the 60-digit one's midpoint (the exact value is in both).
        with mpmath.mp.workdps(80):
            gap = np.abs(mids - getattr(high, key)).astype(float)
        assert np.all(gap <= radius + getattr(high, f"{key}_radius"))


def test_too_low_a_precision_cap_raises():
    _, _, _, gp = make(np.random.default_rng(8))
    with pytest.raises(ArithmeticError):
        certified_gradients(gp, digits=30, max_precision_bits=64)
    with pytest.raises(ValueError):
        certified_gradients(gp, digits=0)


def test_weights_below_the_float64_range_stay_certified():
    """Scores ~1e4 apart: some weights are e^-10000, far below float64; their gradients are
    still certified (digits evaluated in arb), with radii that are true upper bounds."""
    rng = np.random.default_rng(9)
    q = rng.standard_normal((1, 1, 3, 4)) * 3000
    k = rng.standard_normal((1, 1, 5, 4))
    v = rng.standard_normal((1, 1, 5, 2))
    gp = GradientProblem.build(AttentionProblem.build(q, k, v), rng.standard_normal((1, 1, 3, 2)))
    r = certified_gradients(gp, digits=30)
    assert r.digits >= 30
    tiny = 0
    for key in ("dq", "dk", "dv"):
        assert np.all(np.isfinite(r.as_float64()[key]))
        for x, rad in zip(getattr(r, key).flat, getattr(r, f"{key}_radius").flat):
            if x != 0 and abs(x) < mpmath.mpf(2) ** -1100:  # below every float64
                tiny += 1
                assert rad > 0  # the ball's radius is nonzero; rounding it to 0 would lie
    assert tiny > 0  # the case this test is about did occur
