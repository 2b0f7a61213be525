"""Tier-2 gradients (oracles/attention/fast_exact/gradients.py) against a brute-force evaluation.

The reference is written here, independently of the oracles: the contract's gradient formulas
(oracles/attention/gradient_problem.py) evaluated by straightforward loops in mpmath at 200 bits,
with its own transcription of visibility (causal, window, mask) and ALiBi. For every problem,
element by element:
  * honesty: |hi + lo - reference| <= bound + BRUTE_SLACK * scale;
  * accuracy: bound <= CLAIM * scale + FLOOR, with scale the natural scale of the element
    (the sizes of its terms, the definition of tier 1 and of the oracle's docstring), which the
    oracle returns to float64 accuracy (checked against the reference's, SCALE_RTOL).
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

from attnspec.oracles.attention.fast_exact.gradients import fast_exact_gradients
from attnspec.oracles.attention.gradient_problem import GradientProblem
from attnspec.oracles.attention.problem import AttentionProblem
from hypothesis import given, settings
from hypothesis import strategies as st

NAMES = ("dq", "dk", "dv")
PREC = 200  # bits of the brute force
# The brute force rounds each operation at 200 bits: relative to the magnitudes of an element's
# terms its error is below ~2^-190 (a few hundred roundings per element; |scores| <= ~1e3 cost
# 10 bits through exp). 1e-55 ~ 2^-183 leaves room; it is ~1e25 below the oracle's bounds.
BRUTE_SLACK = 1e-55
# The accuracy the oracle claims (module docstring: ~5e-31 of the scale for moderate logits,
# ~2e-28 at scores ~1e3); the issue asks for 1e-24, below which no kernel verdict can move
# (kernel budgets are >= ~1e-16 of the same scale).
CLAIM = 1e-24
# Elements whose scale falls below the float64 range (or below 2^-800 of the problem's unit,
# module docstring, exception ii) carry the oracle's absolute floor: with inputs of order 1,
# 1e-290 is above every such floor term and far below every resolvable scale here.
FLOOR = 1e-290
SCALE_RTOL = 1e-12  # the scales are float64 sums of <= ~100 terms: gamma_100 ~ 1e-14


# --- the brute force ---------------------------------------------------------------------------


def _visible(p: AttentionProblem, b: int, h: int, i: int, j: int) -> bool:
    off = p.kv_len - p.q_len
    if p.causal == "top_left" and j > i:
        return False
    if p.causal == "bottom_right" and j > i + off:
        return False
    if p.window is not None:
        left, right = p.window
        if left is not None and j < i + off - left:
            return False
        if right is not None and j > i + off + right:
            return False
    return p.mask is None or bool(p.mask[b, h, i, j])


def brute_force(gp: GradientProblem):
    """Exact gradients (mpf object arrays) and natural scales (float64) by loops at PREC bits."""
    p = gp.forward
    B, Hq, Lq, D = p.q.shape
    Hk, Lk, Dv = p.kv_heads, p.kv_len, p.value_dim
    G = Hq // Hk
    off = Lk - Lq
    dlse = gp.d_lse_or_zeros()
    shapes = {"dq": (B, Hq, Lq, D), "dk": (B, Hk, Lk, D), "dv": (B, Hk, Lk, Dv)}
    with mp.workprec(PREC):
        mpf = mp.mpf
        exact = {n: np.full(s, mpf(0), dtype=object) for n, s in shapes.items()}
        scale = {n: np.zeros(s) for n, s in shapes.items()}
        sc = 1 / mp.sqrt(D) if p.scale is None else mpf(p.scale)
        for b in range(B):
            for h in range(Hq):
                g = h // G
                q = [[mpf(x) for x in r] for r in p.q[b, h].tolist()]
                k = [[mpf(x) for x in r] for r in p.k[b, g].tolist()]
                v = [[mpf(x) for x in r] for r in p.v[b, g].tolist()]
                dO = [[mpf(x) for x in r] for r in gp.d_out[b, h].tolist()]
                for i in range(Lq):
                    js = [j for j in range(Lk) if _visible(p, b, h, i, j)]
                    if not js:
                        continue
                    s, fac = {}, {}
                    for j in js:
                        r = sc * mp.fsum(q[i][c] * k[j][c] for c in range(D))
                        fac[j] = mpf(1)
                        if p.softcap is not None:
                            # 1 - tanh^2 as 1 / cosh^2: no cancellation where |r / c| is large
                            fac[j] = 1 / mp.cosh(r / p.softcap) ** 2
                            r = p.softcap * mp.tanh(r / p.softcap)
                        if p.alibi_slopes is not None:
                            r -= mpf(p.alibi_slopes[h]) * abs(i + off - j)
                        s[j] = r
                    m = max(s.values())
                    lse = m + mp.log(mp.fsum(mp.exp(s[j] - m) for j in js))
                    P = {j: mp.exp(s[j] - lse) for j in js}
                    O = [mp.fsum(P[j] * v[j][c] for j in js) for c in range(Dv)]
                    Di = mp.fsum(dO[i][c] * O[c] for c in range(Dv)) - mpf(dlse[b, h, i])
                    sigma = [mp.fsum(P[j] * abs(v[j][c]) for j in js) for c in range(Dv)]
                    beta = mp.fsum(abs(dO[i][c]) * sigma[c] for c in range(Dv)) + abs(dlse[b, h, i])
                    for j in js:
                        dP = mp.fsum(dO[i][c] * v[j][c] for c in range(Dv))
                        dR = P[j] * (dP - Di) * fac[j]
                        A = P[j] * (mp.fsum(abs(dO[i][c] * v[j][c]) for c in range(Dv)) + beta) \
                            * abs(fac[j])
                        for c in range(D):
                            exact["dq"][b, h, i, c] += sc * dR * k[j][c]
                            exact["dk"][b, g, j, c] += sc * dR * q[i][c]
                            scale["dq"][b, h, i, c] += float(abs(sc) * A * abs(k[j][c]))
                            scale["dk"][b, g, j, c] += float(abs(sc) * A * abs(q[i][c]))
                        for c in range(Dv):
                            exact["dv"][b, g, j, c] += P[j] * dO[i][c]
                            scale["dv"][b, g, j, c] += float(P[j] * abs(dO[i][c]))
    return exact, scale


def check(gp: GradientProblem, claim: float | None = CLAIM, floor: float = FLOOR, **kwargs):
    r = fast_exact_gradients(gp, **kwargs)
    exact, scale = brute_force(gp)
    worst = {}
    with mp.workprec(2200):  # holds any sum of two doubles exactly
        for name in NAMES:
            hi, lo = getattr(r, name + "_hi"), getattr(r, name + "_lo")
            bound = getattr(r, name + "_bound")
            assert np.all(np.isfinite(hi)) and np.all(np.isfinite(lo))
            assert np.all(bound >= 0), name
            for idx in np.ndindex(hi.shape):
                err = abs(mp.mpf(float(hi[idx])) + mp.mpf(float(lo[idx])) - exact[name][idx])
                allowed = mp.mpf(float(bound[idx])) + BRUTE_SLACK * scale[name][idx]
                assert err <= allowed, (name, idx, float(err), bound[idx], scale[name][idx])
            if claim is not None:
                assert np.all(bound <= claim * scale[name] + floor), (
                    name, float(np.max(bound / np.maximum(scale[name], floor))))
            ok = scale[name] > floor
            np.testing.assert_allclose(r.scales[name][ok], scale[name][ok], rtol=SCALE_RTOL)
            worst[name] = float(np.max(bound[ok] / scale[name][ok], initial=0.0))
    return r, worst


def problem(seed, B=1, Hq=2, Hk=1, Lq=5, Lk=7, D=4, Dv=3, dlse=True, q_mul=1.0,
            dtype=np.float64, **options) -> GradientProblem:
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((B, Hq, Lq, D)) * q_mul
    k = rng.standard_normal((B, Hk, Lk, D))
    v = rng.standard_normal((B, Hk, Lk, Dv))
    d_out = rng.standard_normal((B, Hq, Lq, Dv))
    q, k, v, d_out = (x.astype(dtype) for x in (q, k, v, d_out))
    d_lse = rng.standard_normal((B, Hq, Lq)) if dlse else None
    return GradientProblem.build(AttentionProblem.build(q, k, v, **options), d_out, d_lse)


# --- every option ------------------------------------------------------------------------------

CASES = {
    "plain": dict(),
    "gqa_batch2": dict(B=2, Hq=4, Hk=2),
    "mqa": dict(Hq=3, Hk=1),
    "causal_top_left_lq_gt_lk": dict(Lq=7, Lk=4, causal="top_left"),
    "causal_top_left_lq_lt_lk": dict(Lq=4, Lk=7, causal="top_left"),
    "causal_bottom_right_lq_gt_lk": dict(Lq=7, Lk=4, causal="bottom_right"),
    "causal_bottom_right_lq_lt_lk": dict(Lq=3, Lk=8, causal="bottom_right"),
    "window": dict(Lq=6, Lk=9, window=(2, 1)),
    "window_one_sided": dict(Lq=6, Lk=9, window=(None, 0)),
    "alibi": dict(alibi_slopes=np.array([0.5, 0.125])),
    "softcap": dict(softcap=1.5, q_mul=3.0),
    "scale_zero": dict(scale=0.0),
    "scale_negative": dict(scale=-0.7),
    "no_dlse": dict(dlse=False),
    "lq_1": dict(Lq=1),
    "lk_1": dict(Lk=1),
    "large_logits": dict(D=8, q_mul=400.0),  # scores up to ~1e3
    "float32_valued": dict(dtype=np.float32, softcap=5.0, causal="bottom_right"),
    "everything": dict(Hq=4, Hk=2, Lq=6, Lk=9, causal="bottom_right", window=(3, None),
                       alibi_slopes=np.array([0.3, 0.1, 0.05, 1.0]), softcap=4.0, scale=0.9),
}


@pytest.mark.parametrize("name", list(CASES))
def test_against_brute_force(name):
    r, worst = check(problem(sum(map(ord, name)), **CASES[name]))
    if name == "scale_zero":  # dQ = scale dR K and dK = scale dR^T Q are exactly 0
        for n in ("dq", "dk"):
            assert not np.any(getattr(r, n + "_hi")) and not np.any(getattr(r, n + "_bound"))


def test_fully_masked_row_gives_an_exact_zero_row():
    gp0 = problem(11, Lq=5, Lk=7)
    mask = np.ones((1, 2, 5, 7), dtype=bool)
    mask[0, 0, 2, :] = False  # query 2 of head 0 sees nothing
    mask[0, 1, :, 3] = False  # key 3 is hidden from head 1
    p = gp0.forward
    gp = GradientProblem.build(AttentionProblem.build(p.q, p.k, p.v, mask=mask), gp0.d_out,
                               gp0.d_lse)
    r, _ = check(gp)
    assert r.empty[0, 0, 2] and r.empty.sum() == 1
    assert np.all(r.dq_hi[0, 0, 2] == 0) and np.all(r.dq_lo[0, 0, 2] == 0)
    assert np.all(r.dq_bound[0, 0, 2] == 0)


def test_lk_1_without_dlse_gives_exact_zeros():
    # one key: P = 1, dP = D, so dR = 0 and dQ = dK = 0 exactly, while the scales are not 0
    r, _ = check(problem(12, Lk=1, dlse=False))
    for n in ("dq", "dk"):
        assert not np.any(getattr(r, n + "_hi")) and np.all(r.scales[n] > 0)


def test_zero_d_out_row():
    gp0 = problem(13)
    d_out = gp0.d_out.copy()
    d_out[0, 1, 3] = 0.0
    check(GradientProblem.build(gp0.forward, d_out, None))


def test_chunks_and_threads_do_not_matter():
    gp = problem(14, Hq=2, Hk=2, Lq=9, Lk=6, causal="bottom_right", softcap=3.0)
    a, _ = check(gp, chunk_rows=2, threads=1)
    b = fast_exact_gradients(gp)
    for n in NAMES:
        gap = np.abs((getattr(a, n + "_hi") - getattr(b, n + "_hi"))
                     + (getattr(a, n + "_lo") - getattr(b, n + "_lo")))
        assert np.all(gap <= getattr(a, n + "_bound") + getattr(b, n + "_bound"))


def test_extreme_magnitudes_stay_honest():
    rng = np.random.default_rng(15)
    q, k = rng.standard_normal((1, 2, 5, 6)), rng.standard_normal((1, 1, 7, 6))
    v, d_out = rng.standard_normal((1, 1, 7, 3)), rng.standard_normal((1, 2, 5, 3))
    d_lse = rng.standard_normal((1, 2, 5))
    # large: gradients near 1e300; the claim holds (every scale is far inside the range)
    big = GradientProblem.build(AttentionProblem.build(q * 1e100, k * 1e-98, v * 1e100),
                                d_out * 1e100, d_lse * 1e200)
    check(big, floor=0.0)
    # tiny: dQ and dK fall below the float64 range (unresolved, module docstring (ii)); the
    # bound still holds
    tiny = GradientProblem.build(AttentionProblem.build(q * 1e-200, k * 1e-150, v * 1e-100),
                                 d_out * 1e-120, d_lse * 1e-220)
    check(tiny, claim=None)


def test_outside_the_domain_raises():
    gp = problem(16)
    p = gp.forward
    q = p.q.copy()
    q[0, 0, 0, 0] = 3 * 2.0**-1074  # not representable after scaling the matrix to [1/2, 1)
    q[0, 0, 0, 1] = 1.5
    with pytest.raises(ValueError):
        fast_exact_gradients(GradientProblem.build(AttentionProblem.build(q, p.k, p.v),
                                                   gp.d_out, gp.d_lse))
    # gradients beyond the float64 range
    huge = GradientProblem.build(AttentionProblem.build(p.q * 1e100, p.k * 1e-98, p.v * 1e150),
                                 gp.d_out * 1e150, None)
    with pytest.raises(ValueError):
        fast_exact_gradients(huge)


# --- random problems ---------------------------------------------------------------------------


@st.composite
def random_problems(draw):
    Hk = draw(st.integers(1, 2))
    Hq = Hk * draw(st.integers(1, 2))
    options = {}
    if draw(st.booleans()):
        options["causal"] = draw(st.sampled_from(["top_left", "bottom_right"]))
    if draw(st.booleans()):
        options["window"] = (draw(st.none() | st.integers(0, 3)),
                             draw(st.none() | st.integers(0, 3)))
    if draw(st.booleans()):
        options["alibi_slopes"] = np.array(
            [draw(st.floats(0.01, 2.0)) for _ in range(Hq)])
    if draw(st.booleans()):
        options["softcap"] = draw(st.floats(0.5, 30.0))
    if draw(st.booleans()):
        options["scale"] = draw(st.floats(-2.0, 2.0))
    Lq, Lk = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    if draw(st.booleans()):  # a random mask, fully masked rows included
        options["mask"] = np.random.default_rng(seed + 1).random((1, Hq, Lq, Lk)) < 0.7
    return problem(
        seed, Hq=Hq, Hk=Hk, Lq=Lq, Lk=Lk, D=draw(st.sampled_from([1, 3, 8])),
        Dv=draw(st.sampled_from([1, 2, 5])), dlse=draw(st.booleans()),
        q_mul=draw(st.sampled_from([1.0, 10.0, 100.0, 1000.0])), **options)


@settings(max_examples=100, deadline=None)
@given(random_problems())
def test_random_problems(gp):
    check(gp)
