"""The positional-LSH kernel's properties (properties/alibi_lsh/kernel_properties.py), judged by
session A's oracles (oracles/alibi_lsh), with negative controls that must be flagged: the code's
fixed-block variant (error flat in s) and the plain average of per-mask normalised outputs
(inconsistent).

Tolerances: float64 comparisons allow FLOAT64_ROUNDING = 1e-10 x (1 + max|v|): the kernel and the
oracle each sum at most n <= 64 softmax-weighted O(max|v|) terms, rounding below n 2^-53 per
sum and per exp/log (Higham's gamma_n ~ 1e-14), so 1e-10 leaves >= 1e3 of margin; certificates
are bounds on the approximation alone and are held with that rounding added.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from attnspec.kernels.alibi_lsh import SCHEMES, positional_lsh_attention, sample_block_ids
from attnspec.oracles.alibi_lsh.certificate import ratio_estimate
from attnspec.oracles.alibi_lsh.expectation import alibi_expectation, kms_matrix
from attnspec.oracles.alibi_lsh.schemes import fixed_block_ids, masks_from_block_ids, mean_mask
from attnspec.oracles.alibi_lsh.spectral_bounds import (
    gap_cut_spectral_threshold, paper_expectation_bound, paper_tail_bound, paper_tail_threshold,
    spectral_distance)
from attnspec.properties.alibi_lsh.kernel_properties import (
    binomial_mean_abs_deviation, collision_frequencies, mask_structure, spectral_error_sandwich,
    spectral_tail, within_tolerance)

FLOAT64_ROUNDING = 1e-10  # relative to 1 + max|v|, module docstring
ALPHA = 1e-6  # false-alarm rate of each statistical test below


def _visible(Lq, Lk, causal):
    i = np.arange(Lq)[:, None] + (Lk - Lq)
    j = np.arange(Lk)[None, :]
    return (j <= i) if causal else np.ones((Lq, Lk), dtype=bool)


def _restrict(full, Lq, Lk):
    n = max(Lq, Lk)
    return full[n - Lq:, n - Lk:]


# ---- mask structure -------------------------------------------------------------------------

def test_every_sampled_mask_has_the_structure():
    """Every mask (n = 48, 12 draws) of both schemes at three slopes: binary, symmetric, unit diagonal, contiguous,
    PSD; binning masks also have interior blocks of one width. Gap-cut masks do not (geometric
    sizes): the width rule is shown able to fail."""
    for slope in (0.05, 0.3, 2.0):
        for scheme in SCHEMES:
            ids = sample_block_ids(48, [slope], 12, seed=3, scheme=scheme)[0].numpy()
            masks = masks_from_block_ids(ids)
            assert mask_structure(masks, interior_one_width=False).held
            width = mask_structure(masks, interior_one_width=True)
            if scheme == "binning":
                assert width.held, width.detail
    gap = masks_from_block_ids(sample_block_ids(48, [0.3], 12, seed=3, scheme="gap_cut")[0].numpy())
    assert not mask_structure(gap, interior_one_width=True).held


def test_mask_structure_flags_broken_masks():
    ids = sample_block_ids(16, [0.3], 2, seed=1, scheme="binning")[0].numpy()
    good = masks_from_block_ids(ids)
    for corrupt in (lambda m: m.__setitem__((0, 3, 3), 0.0),        # diagonal
                    lambda m: m.__setitem__((1, 0, 15), 1.0),       # symmetric, contiguous
                    lambda m: m.__setitem__((0, 2, 5), 0.5)):       # binary
        m = good.copy()
        corrupt(m)
        assert not mask_structure(m, interior_one_width=False).held


# ---- collision frequencies (statistical) ----------------------------------------------------

DISTANCES = np.array([1, 2, 4, 8, 16, 32])


def _same_block(ids):
    return ids[:, 0:1] == ids[:, DISTANCES]  # [s, pairs]: positions (0, d)


def test_collision_frequencies_match_the_alibi_matrix():
    """s = 20000 independent draws per scheme, pairs (0, d), slope 0.05 (P from 0.95 to 0.20):
    Binomial(s, P_0d) counts, max |z| over 6 pairs at alpha = 1e-6 (Bonferroni)."""
    s, slope = 20000, 0.05
    expected = kms_matrix(33, slope)[0, DISTANCES]
    for scheme in SCHEMES:
        ids = sample_block_ids(33, [slope], s, seed=21, scheme=scheme)[0].numpy()
        verdict = collision_frequencies(_same_block(ids), expected, ALPHA)
        assert verdict.held, verdict.detail


def test_collision_frequencies_flag_the_fixed_block_variant():
    """Negative control: the code's fixed-block masks (b = 2/slope, xi = 0) repeated s times."""
    slope = 0.05
    ids = np.repeat(fixed_block_ids(33, slope), 20000, axis=0)
    assert not collision_frequencies(_same_block(ids), kms_matrix(33, slope)[0, DISTANCES], ALPHA).held


# ---- exact identities of the computation -----------------------------------------------------

problems = st.fixed_dictionaries({
    "Lq": st.integers(1, 48), "Lk": st.integers(1, 48), "D": st.integers(1, 6), "Dv": st.integers(1, 6),
    "causal": st.booleans(), "scheme": st.sampled_from(SCHEMES), "samples": st.integers(1, 8),
    "slope": st.sampled_from([0.02, 0.2, 1.5]), "seed": st.integers(0, 10**6),
    "spread": st.sampled_from([0.1, 1.0, 4.0]),
})


def _draw(c, dtype=torch.float64):
    g = torch.Generator().manual_seed(c["seed"])
    q = torch.randn((1, 1, c["Lq"], c["D"]), generator=g, dtype=dtype) * c["spread"]
    k = torch.randn((1, 1, c["Lk"], c["D"]), generator=g, dtype=dtype) * c["spread"]
    v = torch.randn((1, 1, c["Lk"], c["Dv"]), generator=g, dtype=dtype)
    return q, k, v


def _scores(q, k):
    return (q[0, 0] @ k[0, 0].T).numpy() / math.sqrt(q.shape[-1])


@settings(max_examples=30, deadline=None, derandomize=True)
@given(problems)
def test_blockwise_equals_the_dense_masked_ratio_estimator(c):
    """The kernel (float64) == the oracle's ratio estimator over the mean of the kernel's masks."""
    q, k, v = _draw(c)
    slopes = torch.tensor([c["slope"]], dtype=torch.float64)
    out = positional_lsh_attention(q, k, v, causal=c["causal"], alibi_slopes=slopes, samples=c["samples"],
                                   seed=c["seed"], scheme=c["scheme"])[0, 0].numpy()
    ids = sample_block_ids(max(c["Lq"], c["Lk"]), [c["slope"]], c["samples"], seed=c["seed"], scheme=c["scheme"])
    mbar = _restrict(mean_mask(ids[0].numpy()), c["Lq"], c["Lk"]) * _visible(c["Lq"], c["Lk"], c["causal"])
    # rows with an empty estimator (no causal, before the first key) are computed exactly
    alibi = alibi_expectation(c["Lq"], c["Lk"], c["slope"], "bottom_right" if c["causal"] else None)
    mbar = np.where((mbar.sum(-1) == 0)[:, None], alibi, mbar)
    ref = ratio_estimate(_scores(q, k), mbar, v[0, 0].numpy())
    tol = FLOAT64_ROUNDING * (1 + np.abs(v.numpy()).max())
    verdict = within_tolerance("blockwise == dense", np.abs(out - ref), tol)
    assert verdict.held, verdict.detail


@settings(max_examples=15, deadline=None, derandomize=True)
@given(problems)
def test_one_draw_with_no_cut_is_plain_attention(c):
    """Gap cuts at slope 1e-300 cut with probability 1e-300: one block; out == plain attention."""
    q, k, v = _draw(c)
    n = max(c["Lq"], c["Lk"])
    slopes = torch.tensor([1e-300], dtype=torch.float64)
    assert torch.all(sample_block_ids(n, slopes, 1, seed=c["seed"], scheme="gap_cut") == 0)
    out = positional_lsh_attention(q, k, v, causal=c["causal"], alibi_slopes=slopes, samples=1,
                                   seed=c["seed"], scheme="gap_cut")[0, 0].numpy()
    visible = _visible(c["Lq"], c["Lk"], c["causal"]).astype(np.float64)
    ref = ratio_estimate(_scores(q, k), visible, v[0, 0].numpy())
    assert within_tolerance("no cut", np.abs(out - ref), FLOAT64_ROUNDING * (1 + np.abs(v.numpy()).max())).held


@settings(max_examples=15, deadline=None, derandomize=True)
@given(problems)
def test_every_cut_returns_v_row_by_row(c):
    """Slope 50: gap cuts cut every gap (1 - e^-50 rounds to 1); binning widths are below 1 but
    with probability 51 e^-50 < 1e-19. Each row sees only its own key: out_i = v_(i + Lk - Lq)
    (a row before the first key: 0 under causal; without causal no key shares its block and the
    kernel computes the row exactly). The s merges rescale by e^(lse_t - lse) ~ 1/s: a few ulps each."""
    q, k, v = _draw(c)
    slopes = torch.tensor([50.0], dtype=torch.float64)
    out = positional_lsh_attention(q, k, v, causal=c["causal"], alibi_slopes=slopes, samples=c["samples"],
                                   seed=c["seed"], scheme=c["scheme"])[0, 0].numpy()
    Lq, Lk = c["Lq"], c["Lk"]
    pos = np.arange(Lq) + Lk - Lq
    ref = np.where((pos >= 0)[:, None], v[0, 0].numpy()[np.clip(pos, 0, Lk - 1)], 0.0)
    if not c["causal"]:  # rows before the first key: no key shares their block, computed exactly
        # in log space: P = e^(-50 d) underflows to 0 for d > 14, the weights' ratios do not
        logits = _scores(q, k) - 50.0 * np.abs(pos[:, None] - np.arange(Lk)[None, :])
        w = np.exp(logits - logits.max(-1, keepdims=True))
        exact = (w / w.sum(-1, keepdims=True)) @ v[0, 0].numpy()
        ref = np.where((pos >= 0)[:, None], ref, exact)
    tol = 8 * c["samples"] * 2.0 ** -53 * (1 + np.abs(v.numpy()).max())
    verdict = within_tolerance("every cut", np.abs(out - ref), tol)
    assert verdict.held, verdict.detail


# ---- the certificate ------------------------------------------------------------------------

certificate_problems = st.fixed_dictionaries({
    "Lq": st.integers(1, 40), "Lk": st.integers(1, 40), "D": st.integers(1, 6), "Dv": st.integers(1, 4),
    "causal": st.booleans(), "scheme": st.sampled_from(SCHEMES), "samples": st.sampled_from([1, 4, 64]),
    "slope": st.sampled_from([0.01, 0.1, 0.5, 3.0]), "seed": st.integers(0, 10**6),
    # adversarial score ranges: large query/key norms and one outlier key
    "spread": st.sampled_from([0.01, 0.3, 1.0, 3.0, 10.0]), "outlier": st.sampled_from([0.0, 5.0, 40.0]),
})


@settings(max_examples=30, deadline=None, derandomize=True)
@given(certificate_problems)
def test_the_certificate_holds(c):
    """|kernel - exact ALiBi| <= certificate + rounding for out and lse (float64 kernel; exact ALiBi
    attention from the oracle's ratio estimate with P = alibi_expectation)."""
    q, k, v = _draw(c)
    if c["outlier"]:
        k[0, 0, c["seed"] % c["Lk"]] *= c["outlier"]
    slopes = torch.tensor([c["slope"]], dtype=torch.float64)
    out, lse, cert = positional_lsh_attention(q, k, v, causal=c["causal"], alibi_slopes=slopes, return_lse=True,
                                              return_certificate=True, samples=c["samples"], seed=c["seed"],
                                              scheme=c["scheme"])
    p = alibi_expectation(c["Lq"], c["Lk"], c["slope"], "bottom_right" if c["causal"] else None)
    scores = _scores(q, k)
    exact = ratio_estimate(scores, p, v[0, 0].numpy())
    rounding = FLOAT64_ROUNDING * (1 + np.abs(v.numpy()).max())
    err = np.abs(out[0, 0].numpy() - exact).max(-1)
    verdict = within_tolerance("certificate out", err, cert["out"][0, 0].numpy() + rounding)
    assert verdict.held, verdict.detail
    with np.errstate(divide="ignore"):
        exact_lse = np.log((np.exp(scores - scores.max(-1, keepdims=True)) * p).sum(-1)) + scores.max(-1)
    lse = lse[0, 0].numpy()
    both_finite = np.isfinite(exact_lse) & np.isfinite(lse)
    assert np.array_equal(np.isfinite(exact_lse), np.isfinite(lse)) or np.all(cert["lse"][0, 0].numpy()[
        np.isfinite(exact_lse) != np.isfinite(lse)] == np.inf)
    lse_err = np.abs(lse[both_finite] - exact_lse[both_finite])
    lse_tol = cert["lse"][0, 0].numpy()[both_finite] + FLOAT64_ROUNDING * (1 + np.abs(exact_lse[both_finite]))
    assert within_tolerance("certificate lse", lse_err, lse_tol).held


def _plain_average_of_normalised_outputs(scores, masks, values):
    """Negative control: mean over masks [s, n, n] of softmax(S + log M_t) V (inconsistent); every
    mask holds its diagonal, so no row is empty."""
    w = np.exp(scores - scores.max(-1, keepdims=True))[None] * masks  # [s, n, n]
    return ((w @ values) / w.sum(-1, keepdims=True)).mean(0)


def test_the_certificate_flags_the_plain_average_of_normalised_outputs():
    """At n = 48, slope 1/8, s = 1024 binning masks and small scores (q, k entries ~ 0.3 N(0, 1)),
    the ratio estimator (the kernel) stays within the certificate (measured: 0.064 of it), the
    plain average does not (2.6 x it; 0.84 x at s = 256, 3.5 x at s = 4096: it does not fall)."""
    n, slope, s = 48, 0.125, 1024
    g = torch.Generator().manual_seed(5)
    q = torch.randn((1, 1, n, 4), generator=g, dtype=torch.float64) * 0.3
    k = torch.randn((1, 1, n, 4), generator=g, dtype=torch.float64) * 0.3
    v = torch.randn((1, 1, n, 2), generator=g, dtype=torch.float64)
    slopes = torch.tensor([slope], dtype=torch.float64)
    out, cert = positional_lsh_attention(q, k, v, alibi_slopes=slopes, return_certificate=True, samples=s, seed=2)
    scores = _scores(q, k)
    exact = ratio_estimate(scores, alibi_expectation(n, n, slope), v[0, 0].numpy())
    bound = cert["out"][0, 0].numpy()
    ratio_err = np.abs(out[0, 0].numpy() - exact).max(-1)
    assert within_tolerance("ratio estimator", ratio_err, bound + FLOAT64_ROUNDING * 10).held
    ids = sample_block_ids(n, slopes, s, seed=2)[0].numpy()
    average = _plain_average_of_normalised_outputs(scores, masks_from_block_ids(ids), v[0, 0].numpy())
    assert not within_tolerance("plain average", np.abs(average - exact).max(-1), bound + FLOAT64_ROUNDING * 10).held


# ---- spectral error of the mean mask (statistical) ------------------------------------------

def _spectral_errors(n, slope, s, reps, scheme, seed):
    """||Mbar - P||_2 over ``reps`` independent sets of s kernel draws (seeds seed .. seed+reps-1)."""
    p = kms_matrix(n, slope)
    return np.array([spectral_distance(mean_mask(sample_block_ids(n, [slope], s, seed=seed + r,
                                                                  scheme=scheme)[0].numpy()), p)
                     for r in range(reps)])


def _band(n, slope, s):
    """(lower, upper) of E||Mbar - P||_2: the largest exact binomial mean absolute deviation of an
    entry (||X||_2 >= max_ij |X_ij|, E max >= max E) and the paper's expectation bound."""
    lower = float(binomial_mean_abs_deviation(s, np.exp(-slope * np.arange(1, n))).max())
    return lower, paper_expectation_bound(1 / slope, n, s)


SPECTRAL_N, SPECTRAL_REPS = 96, 16


def test_spectral_error_lies_in_its_band_and_tail():
    """n = 96, sigma in {4, 16}, s in {16, 256}, R = 16 repetitions of each (binning, the paper's
    scheme): mean ||Mbar - P||_2 within [binomial MAD lower bound, paper's expectation bound]
    (one-sided z tests at alpha = 1e-6 each pair), and the count of repetitions at or above the
    paper's tail threshold eps(delta = 0.1) consistent with Binomial(R, 0.1) at alpha. Both ends
    of the band fall like s^-1/2 (up to the paper's ln n / s term)."""
    for sigma in (4.0, 16.0):
        for s in (16, 256):
            errors = _spectral_errors(SPECTRAL_N, 1 / sigma, s, SPECTRAL_REPS, "binning", seed=100)
            lower, upper = _band(SPECTRAL_N, 1 / sigma, s)
            band = spectral_error_sandwich(errors, lower, upper, ALPHA)
            assert band.held, band.detail
            eps = paper_tail_threshold(sigma, SPECTRAL_N, s, 0.1)
            tail = spectral_tail(errors, eps, paper_tail_bound(sigma, SPECTRAL_N, s, eps), ALPHA)
            assert tail.held, tail.detail


def test_gap_cut_spectral_error_within_matrix_bernstein():
    """Gap cuts (the kernel's default): the band's lower end, and the project's matrix-Bernstein
    threshold at delta = 0.1 as the tail, n = 96, sigma = 8, s = 64, R = 16."""
    slope, s = 1 / 8, 64
    errors = _spectral_errors(SPECTRAL_N, slope, s, SPECTRAL_REPS, "gap_cut", seed=300)
    lower, _ = _band(SPECTRAL_N, slope, s)
    assert spectral_error_sandwich(errors, lower, math.inf, ALPHA).held
    eps = gap_cut_spectral_threshold(SPECTRAL_N, s, slope, 0.1)
    assert spectral_tail(errors, eps, 0.1, ALPHA).held


def test_spectral_band_flags_the_fixed_block_variant():
    """Negative control: the fixed-block mask is the mean of any number of its draws, so its error
    is flat in s and leaves the band once the paper's bound falls below it (s = 4096)."""
    sigma, s = 8.0, 4096
    fixed = masks_from_block_ids(fixed_block_ids(SPECTRAL_N, 1 / sigma))[0]
    errors = np.full(SPECTRAL_REPS, spectral_distance(fixed, kms_matrix(SPECTRAL_N, 1 / sigma)))
    lower, upper = _band(SPECTRAL_N, 1 / sigma, s)
    assert not spectral_error_sandwich(errors, lower, upper, ALPHA).held
    eps = paper_tail_threshold(sigma, SPECTRAL_N, s, 0.1)
    assert not spectral_tail(errors, eps, paper_tail_bound(sigma, SPECTRAL_N, s, eps), ALPHA).held


# ---- long: the spectral law over a grid, measured (docs/positional-lsh-kernel.md) -------------

@pytest.mark.long
def test_spectral_law_over_sigma_and_s():
    """n = 256, sigma in {2, 8, 32}, s in {4, 16, 64, 256, 1024}, R = 10 repetitions, binning and
    gap cuts: every point in its band (alpha = 1e-6 per point; the paper's upper end for binning,
    the lower end for both). Measured and printed: sqrt(s) x relative error ||Mbar - P||/||P||
    and the fitted exponent of the mean relative error in s, per sigma."""
    n, reps = 256, 10
    for scheme in SCHEMES:
        for sigma in (2.0, 8.0, 32.0):
            norm_p = float(np.abs(np.linalg.eigvalsh(kms_matrix(n, 1 / sigma))).max())
            means = []
            for s in (4, 16, 64, 256, 1024):
                errors = _spectral_errors(n, 1 / sigma, s, reps, scheme, seed=1000)
                lower, upper = _band(n, 1 / sigma, s)
                verdict = spectral_error_sandwich(errors, lower, upper if scheme == "binning" else math.inf, ALPHA)
                assert verdict.held, (scheme, sigma, s, verdict.detail)
                means.append(errors.mean() / norm_p)
                print(f"{scheme} sigma {sigma:g} s {s}: sqrt(s) rel err {math.sqrt(s) * means[-1]:.3f}")
            exponent = np.polyfit(np.log([4, 16, 64, 256, 1024]), np.log(means), 1)[0]
            print(f"{scheme} sigma {sigma:g}: fitted exponent {exponent:.3f}")


@pytest.mark.long
def test_certificate_tightness_measured():
    """300 problems (n = 64, s = 16, binning and gap cuts, slopes 0.05 and 0.3, q and k spread
    0.3, 1 and 3, non-causal and causal): the error against the kernel's certificate (score range
    bounded, module certificate.py) and against the oracle's certificate with the exact score
    range (oracles/alibi_lsh/certificate.py); both must hold, the ratios are printed."""
    from attnspec.oracles.alibi_lsh.certificate import (
        certificate_bound, certificate_kappa, score_range, value_diameter)

    n, s = 64, 16
    kernel_ratio, exact_r_ratio, capped = [], [], []
    for case in range(300):
        scheme = SCHEMES[case % 2]
        slope = (0.05, 0.3)[(case // 2) % 2]
        spread = (0.3, 1.0, 3.0)[(case // 4) % 3]
        causal = bool((case // 12) % 2)
        c = dict(Lq=n, Lk=n, D=4, Dv=2, seed=case, spread=spread)
        q, k, v = _draw(c)
        slopes = torch.tensor([slope], dtype=torch.float64)
        out, cert = positional_lsh_attention(q, k, v, causal=causal, alibi_slopes=slopes, return_certificate=True,
                                             samples=s, seed=case, scheme=scheme)
        visible = _visible(n, n, causal)
        p = alibi_expectation(n, n, slope, "bottom_right" if causal else None)
        scores = _scores(q, k)
        err = np.abs(out[0, 0].numpy() - ratio_estimate(scores, p, v[0, 0].numpy())).max(-1)
        mbar = mean_mask(sample_block_ids(n, slopes, s, seed=case, scheme=scheme)[0].numpy()) * visible
        oracle = certificate_bound(score_range(scores, visible), value_diameter(v[0, 0].numpy(), visible),
                                   certificate_kappa(mbar, p))
        rounding = FLOAT64_ROUNDING * (1 + np.abs(v.numpy()).max())
        assert within_tolerance("kernel certificate", err, cert["out"][0, 0].numpy() + rounding).held
        assert within_tolerance("exact-range certificate", err, oracle + rounding).held
        bound = cert["out"][0, 0].numpy()
        rows = bound > rounding  # rows with a zero certificate are exact: only rounding is left
        kernel_ratio.extend(err[rows] / bound[rows])
        exact_r_ratio.extend(err[oracle > rounding] / oracle[oracle > rounding])
        capped.extend(bound[rows] >= value_diameter(v[0, 0].numpy(), visible)[rows])
    print(f"rows: {len(kernel_ratio)}; error / kernel certificate: max {max(kernel_ratio):.3g}, median "
          f"{np.median(kernel_ratio):.3g}; certificate at its cap diam(V) in {np.mean(capped):.1%} of rows; "
          f"error / exact-range certificate (oracle): max {max(exact_r_ratio):.3g}, median "
          f"{np.median(exact_r_ratio):.3g}")
