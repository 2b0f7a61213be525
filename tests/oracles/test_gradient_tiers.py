"""Tier 2 gradients (fast_exact/gradients.py) held against tier 1 (certified_gradients.py).

For each problem, element by element:
  * honesty: |tier2 - tier1 midpoint| <= tier-2 bound + tier-1 radius (the exact value lies within
    the radius of the midpoint, so a breach means tier 2's bound is wrong);
  * accuracy: |tier2 - tier1 midpoint| <= CLAIM * scale + tier-1 radius, scale the natural scale
    (both tiers define it alike: the sizes of each element's terms);
  * the two tiers' natural scales agree to float64 accuracy (SCALE_RTOL).
Tier 1 certifies TIER1_DIGITS digits, ~1e15 below the claim: it cannot decide a verdict.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from attnspec.oracles.attention.certified_gradients import certified_gradients
from attnspec.oracles.attention.fast_exact.gradients import fast_exact_gradients
from attnspec.oracles.attention.gradient_problem import GradientProblem
from attnspec.oracles.attention.problem import AttentionProblem

NAMES = ("dq", "dk", "dv")
TIER1_DIGITS = 40
CLAIM = 1e-24  # tier 2's accuracy claim, relative to the natural scale (as its own tests)
# Both tiers sum the same non-negative terms in float64 (tier 1 at 64 bits, then rounded):
# relative differences are a few u.
SCALE_RTOL = 1e-12

CASES = {
    "gqa_causal_bottom_right": dict(B=2, Hq=4, Hk=2, Lq=9, Lk=11, causal="bottom_right"),
    "mqa_softcap_alibi": dict(Hq=3, Hk=1, Lq=7, Lk=7, softcap=3.0,
                              alibi_slopes=np.array([0.5, 0.25, 0.125])),
    "window_top_left_lq_gt_lk": dict(Lq=10, Lk=6, causal="top_left", window=(2, 1)),
    "mask_empty_row_scale": dict(Lq=6, Lk=8, mask="empty_row", scale=-0.4),
    "large_logits_float32": dict(Lq=5, Lk=9, D=16, q_mul=60.0, dtype=np.float32),
    "lk_1_no_dlse": dict(Lq=4, Lk=1, dlse=False),
}


def problem(seed, B=1, Hq=2, Hk=1, Lq=6, Lk=7, D=8, Dv=5, dlse=True, q_mul=1.0,
            dtype=np.float64, mask=None, **options) -> GradientProblem:
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((B, Hq, Lq, D)) * q_mul
    k = rng.standard_normal((B, Hk, Lk, D))
    v = rng.standard_normal((B, Hk, Lk, Dv))
    d_out = rng.standard_normal((B, Hq, Lq, Dv))
    q, k, v, d_out = (x.astype(dtype) for x in (q, k, v, d_out))
    if mask == "empty_row":
        mask = rng.random((B, Hq, Lq, Lk)) < 0.6
        mask[0, 0, 1] = False  # a row with no visible key
    d_lse = rng.standard_normal((B, Hq, Lq)) if dlse else None
    forward = AttentionProblem.build(q, k, v, mask=mask, **options)
    return GradientProblem.build(forward, d_out, d_lse)


@pytest.mark.parametrize("name", list(CASES))
def test_tier2_within_its_bound_of_tier1(name):
    gp = problem(sum(map(ord, name)), **CASES[name])
    fast = fast_exact_gradients(gp)
    cert = certified_gradients(gp, digits=TIER1_DIGITS)
    assert np.array_equal(fast.empty, cert.empty)
    with mpmath.workprec(2200):  # holds any sum of two doubles exactly
        for n in NAMES:
            hi, lo = getattr(fast, n + "_hi"), getattr(fast, n + "_lo")
            bound = getattr(fast, n + "_bound")
            mid, radius = getattr(cert, n), getattr(cert, n + "_radius")
            scale = cert.scales[n]
            for idx in np.ndindex(hi.shape):
                err = abs(mpmath.mpf(float(hi[idx])) + mpmath.mpf(float(lo[idx])) - mid[idx])
                rad = mpmath.mpf(float(radius[idx]))
                assert err <= mpmath.mpf(float(bound[idx])) + rad, (n, idx, float(err), bound[idx])
                assert err <= CLAIM * mpmath.mpf(float(scale[idx])) + rad, (n, idx, float(err))
            assert np.all(bound <= CLAIM * scale), (n, float(np.max(bound / scale)))
            np.testing.assert_allclose(fast.scales[n], scale, rtol=SCALE_RTOL, atol=0)
