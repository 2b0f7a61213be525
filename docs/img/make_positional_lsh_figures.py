"""Draw docs/positional-lsh.md's pictures and measure the numbers it quotes (the alibi_lsh oracles).

    .venv/bin/python docs/img/make_positional_lsh_figures.py [--quick]

Writes docs/img/positional_lsh_mean_mask.png, docs/img/positional_lsh_spectral_error.png and
docs/img/positional_lsh_numbers.json, and prints the numbers. Seeded: the same numbers every run.
About 4 minutes of CPU (--quick: smaller samples, for a look; it writes no JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from mpmath import mp  # noqa: E402

from attnspec.oracles.alibi_lsh import certificate as C  # noqa: E402
from attnspec.oracles.alibi_lsh import expectation as E  # noqa: E402
from attnspec.oracles.alibi_lsh import schemes as S  # noqa: E402
from attnspec.oracles.alibi_lsh import spectral_bounds as B  # noqa: E402

HERE = Path(__file__).resolve().parent
SAMPLERS = {"binning": S.binning_block_ids, "gap_cut": S.gap_cut_block_ids}


def exact_expectations() -> dict:
    """max |E[M] - P| by enumeration (gap cuts, n <= 12) and quadrature (binning, n = 6), mpmath."""
    out = {}
    with mp.workdps(50):
        worst = max(max(abs(x) for x in E.gap_cut_expected_mask_enumerated(n, slope, 50)
                        - E.kms_matrix_mp(n, slope, 50))
                    for n in (2, 5, 8, 12) for slope in ("0.01", "0.3", "2"))
        out["gap_cut_enumeration_max_abs_error"] = float(worst)
    with mp.workdps(30):
        worst = max(max(abs(x) for x in E.binning_expected_mask_quadrature(6, slope, 30)
                        - E.kms_matrix_mp(6, slope, 30))
                    for slope in ("0.05", "0.7"))
        out["binning_quadrature_max_abs_error"] = float(worst)
    return out


def collision_frequencies(draws: int) -> dict:
    """Collision frequency of (i, i + d) over `draws` draws vs e^(-d/sigma): the largest
    |frequency - P| and the largest |z| = |frequency - P| / sqrt(P (1 - P)/draws) over d <= 4 sigma."""
    out = {}
    for scheme, sampler in SAMPLERS.items():
        for sigma in (2, 16, 64):
            distances = np.unique(np.linspace(0, 4 * sigma, 25).astype(int))
            ids = sampler(int(distances.max()) + 1, 1 / sigma, draws, np.random.default_rng(7))
            freq = np.array([(ids[:, 0] == ids[:, d]).mean() for d in distances])
            p = np.exp(-distances / sigma)
            sd = np.sqrt(np.maximum(p * (1 - p), 1e-300) / draws)
            z = np.where(p < 1, np.abs(freq - p) / sd, 0.0)
            out[f"{scheme}_sigma{sigma}"] = {"draws": draws, "max_abs": float(np.abs(freq - p).max()),
                                             "max_z": float(z.max()), "distances": len(distances)}
    return out


def spectral_errors(n: int, sigmas, draws, repeats: int) -> dict:
    """||Mbar - P||_2 over `repeats` independent sets of s masks, per scheme, sigma, s."""
    out = {}
    for scheme, sampler in SAMPLERS.items():
        for sigma in sigmas:
            p = E.kms_matrix(n, 1 / sigma)
            norm_p = B.spectral_distance(p, np.zeros_like(p))
            rng = np.random.default_rng(int(sigma) * 1000 + len(scheme))
            for s in draws:
                errors = np.array([B.spectral_distance(S.mean_mask(sampler(n, 1 / sigma, s, rng)), p)
                                   for _ in range(repeats)])
                out[f"{scheme}_sigma{sigma}_s{s}"] = {
                    "scheme": scheme, "sigma": sigma, "s": s, "repeats": repeats,
                    "mean": float(errors.mean()), "sd": float(errors.std(ddof=1)),
                    "bound": B.paper_expectation_bound(sigma, n, s),
                    "mean_over_bound": float(errors.mean() / B.paper_expectation_bound(sigma, n, s)),
                    "relative_times_sqrt_s": float(errors.mean() / norm_p * math.sqrt(s)),
                    "max_over_tail_threshold_0.05": float(errors.max() / B.paper_tail_threshold(sigma, n, s, 0.05)),
                    "max_over_bernstein_0.05": float(errors.max() / B.gap_cut_spectral_threshold(n, s, 1 / sigma, 0.05)),
                }
    for sigma in sigmas:
        p = E.kms_matrix(n, 1 / sigma)
        out[f"fixed_sigma{sigma}"] = {"scheme": "fixed", "sigma": sigma,
                                      "error": B.spectral_distance(S.mean_mask(S.fixed_block_ids(n, 1 / sigma)), p),
                                      "norm_p": B.spectral_distance(p, np.zeros_like(p))}
    return out


def certificate_ratios(inputs: int) -> dict:
    """Worst |ytilde - y| / certificate over random problems (n = 256 keys and queries, Dv = 8),
    per score scale: scores scale * N(0, 1), values N(0, 1), s masks of either scheme."""
    out = {}
    rng = np.random.default_rng(11)
    n = 256
    for scale in (0.5, 2.0, 8.0):
        worst, median = [], []
        for k in range(inputs):
            sigma = [2, 16, 64][k % 3]
            s = [4, 64][k % 2]
            scheme = ["binning", "gap_cut"][(k // 2) % 2]
            causal = [None, "bottom_right"][(k // 4) % 2]
            p = E.alibi_expectation(n, n, 1 / sigma, causal)
            visible = p > 0
            mbar = S.mean_mask(SAMPLERS[scheme](n, 1 / sigma, s, rng)) * visible
            scores = scale * rng.standard_normal((n, n))
            values = rng.standard_normal((n, 8))
            error = np.abs(C.ratio_estimate(scores, mbar, values) - C.ratio_estimate(scores, p, values)).max(axis=1)
            bound = C.certificate_bound(C.score_range(scores, visible), C.value_diameter(values, visible),
                                        C.certificate_kappa(mbar, p))
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.where(bound > 0, error / bound, 0.0)  # bound 0: a row with one key, no error
            worst.append(ratio.max())
            median.append(np.median(ratio))
        out[f"score_scale_{scale}"] = {"inputs": inputs, "worst_row_ratio": float(max(worst)),
                                       "median_row_ratio": float(np.median(median))}
    return out


def draw_mean_mask(path: Path) -> None:
    n, sigma, s = 96, 8.0, 256
    rng = np.random.default_rng(3)
    p = E.kms_matrix(n, 1 / sigma)
    mbar = {k: S.mean_mask(f(n, 1 / sigma, s, rng)) for k, f in SAMPLERS.items()}
    fixed = S.mean_mask(S.fixed_block_ids(n, 1 / sigma))
    fig, axes = plt.subplots(1, 4, figsize=(16, 4))
    for ax, (title, m) in zip(axes[:3], [("exp(B), sigma = 8", p), (f"mean of {s} binning masks", mbar["binning"]),
                                         (f"mean of {s} gap-cut masks", mbar["gap_cut"])]):
        ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
        ax.set_title(title)
        ax.set_xticks([]), ax.set_yticks([])
    row = n // 2
    ax = axes[3]
    ax.plot(p[row], "k-", lw=2, label="exp(-|i-j|/sigma)")
    ax.plot(mbar["binning"][row], "C0.", label="binning")
    ax.plot(mbar["gap_cut"][row], "C1x", label="gap cuts")
    ax.plot(fixed[row], "C3--", label="fixed blocks (code)")
    ax.set_title(f"row {row}")
    ax.set_xlabel("key j")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_spectral_error(path: Path, errors: dict, n: int, sigmas, draws) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for k, sigma in enumerate(sigmas):
        colour = f"C{k}"
        for scheme, marker in (("binning", "o-"), ("gap_cut", "x--")):
            mean = [errors[f"{scheme}_sigma{sigma}_s{s}"]["mean"] for s in draws]
            rel = [errors[f"{scheme}_sigma{sigma}_s{s}"]["relative_times_sqrt_s"] for s in draws]
            axes[0].loglog(draws, mean, marker, color=colour, label=f"{scheme}, sigma={sigma}")
            axes[1].semilogx(draws, rel, marker, color=colour, label=f"{scheme}, sigma={sigma}")
        axes[0].loglog(draws, [B.paper_expectation_bound(sigma, n, s) for s in draws], ":", color=colour,
                       label=f"paper's bound, sigma={sigma}")
        axes[0].axhline(errors[f"fixed_sigma{sigma}"]["error"], color=colour, lw=0.8, alpha=0.6)
    axes[0].set_xlabel("masks s")
    axes[0].set_ylabel("mean ||L' - L||_2")
    axes[0].set_title(f"n = {n}; thin lines: the code's fixed blocks (flat in s)")
    axes[0].legend(fontsize=7, ncol=2)
    axes[1].set_xlabel("masks s")
    axes[1].set_ylabel("sqrt(s) ||L' - L||_2 / ||L||_2")
    axes[1].set_title("relative error x sqrt(s): flat in s and in sigma")
    axes[1].set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, sigmas = 512, (2, 16, 64)
    draws = (10, 30, 100, 300, 1000)
    repeats, collision_draws, inputs = (3, 20_000, 30) if args.quick else (10, 200_000, 300)
    started = time.time()
    numbers = {"exact": exact_expectations(), "collisions": collision_frequencies(collision_draws)}
    numbers["spectral"] = spectral_errors(n, sigmas, draws, repeats)
    numbers["certificate"] = certificate_ratios(inputs)
    draw_mean_mask(HERE / "positional_lsh_mean_mask.png")
    draw_spectral_error(HERE / "positional_lsh_spectral_error.png", numbers["spectral"], n, sigmas, draws)
    numbers["seconds"] = round(time.time() - started, 1)
    if not args.quick:
        (HERE / "positional_lsh_numbers.json").write_text(json.dumps(numbers, indent=1) + "\n")
    print(json.dumps(numbers, indent=1))


if __name__ == "__main__":
    main()
