"""The phase diagram of softmax attention over long random contexts (``attnspec laws phase``).

Top row, one panel per d: E W_max against gamma = beta / n^(2/(d-1)) (log axis): the exact
finite-n oracle (finite_n.expected_wmax) for each n, the critical Poisson limit (wmax_d3 at d = 3,
critical_poisson.expected_wmax otherwise), and Monte Carlo means from the streaming kernel with
error bars of +- 2 standard errors. At d = 3 the curves for every n lie on the limit (error
O(1/n)); at d = 8 and 16 they approach it slowly (like n^(-2/(d-1))), which is why the laws test
against the exact finite-n oracle there.

Bottom row, one panel per d, at one n: the subcritical output against beta (log-log): the bias
1 - E<q,y>, the variance of <q,y> and the variance of each tangent coordinate from the exact
finite-n oracle (finite_n.output_moments), the population bias 1 - A_d(beta) (partition.mean_resultant),
and Monte Carlo points (identity values, full key vectors) with +- 2 standard errors; beta runs up
to a quarter of the beta at which E W_max = 1/2.

matplotlib is an optional extra (``pip install attnspec[plot]``), imported only when drawing.
"""

from __future__ import annotations

import math
import time

import numpy as np

from attnspec.oracles.scaling_limits import critical_poisson as CP
from attnspec.oracles.scaling_limits import finite_n as FN
from attnspec.oracles.scaling_limits import vectorized as V

from attnspec.properties.scaling_limits.critical_wmax import exact_wmax_moment
from attnspec.properties.scaling_limits.threshold_scaling import gamma_half


class MissingPlotting(Exception):
    """matplotlib is not installed."""


def require_matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise MissingPlotting("laws phase draws with matplotlib, which is not installed; "
                              "install the 'plot' extra: pip install 'attnspec[plot]'") from None
    return matplotlib


def _limit_wmax(d: int, gammas: np.ndarray) -> np.ndarray:
    if d == 3:
        return np.asarray(V.expected_wmax_d3(gammas), float)
    return np.array([float(CP.expected_wmax(d, g, backend="numpy")) for g in gammas])


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    return float(np.mean(x)), float(np.std(x, ddof=1) / math.sqrt(len(x)))


def phase_data(ds=(3, 8, 16), ns=(1000, 10_000, 100_000), *, contexts: int = 150, sub_n: int = 10_000,
               points: int = 30, mc_points: int = 5, seed: int = 9100, source=None, log=None) -> dict:
    """Oracle curves and Monte Carlo points for the picture (plain lists, JSON-serialisable)."""
    from attnspec.properties.scaling_limits.sources import StreamingSource

    source = source or StreamingSource()
    say = log or (lambda msg: None)
    data = {"ds": list(ds), "ns": list(ns), "contexts": contexts, "sub_n": sub_n, "seed": seed,
            "critical": {}, "subcritical": {}}
    job = 0
    for d in ds:
        t0 = time.perf_counter()
        p = 2.0 / (d - 1)
        gh = float(CP.gamma_at_half(d, backend="numpy"))
        gammas = gh * np.logspace(-math.log10(8), math.log10(16), points)
        mc_gammas = gh * np.logspace(-math.log10(4), math.log10(8), mc_points)
        crit = {"gamma_half_limit": gh, "gammas": gammas.tolist(),
                "limit": _limit_wmax(d, gammas).tolist(), "exact": {}, "mc": {}}
        for n in ns:
            crit["exact"][n] = [exact_wmax_moment(int(n), float(g) * n ** p, d) for g in gammas]
            rows = []
            for g in mc_gammas:
                w = source.draw(int(n), float(g) * n ** p, d=d, contexts=contexts, seed=seed + job,
                                need=("w_max",)).w_max
                job += 1
                rows.append((float(g), *_mean_se(w)))
            crit["mc"][n] = rows
        data["critical"][d] = crit
        # subcritical panel: beta from 1 to a quarter of the exact beta_half at sub_n
        b_hi = 0.25 * gamma_half(float(sub_n), d) * sub_n ** p
        betas = np.logspace(0, math.log10(b_hi), points)
        mc_betas = np.logspace(math.log10(2.0), math.log10(b_hi), mc_points)
        sub = {"betas": betas.tolist(), "bias": [], "var_along_q": [], "tangent_var": [],
               "population_bias": (1 - np.asarray(V.mean_resultant(betas, d))).tolist(), "mc": []}
        for b in betas:
            ex = FN.output_moments(sub_n, float(b), d, backend="numpy")
            sub["bias"].append(ex["mean_deficit"])
            sub["var_along_q"].append(ex["var_along_q"])
            sub["tangent_var"].append(ex["tangent_var"])
        for b in mc_betas:
            y = source.draw(int(sub_n), float(b), d=d, contexts=contexts, seed=seed + job,
                            need=("output",)).output
            job += 1
            ex = FN.output_moments(sub_n, float(b), d, backend="numpy")
            along = y[:, 0]
            sub["mc"].append({"beta": float(b), "bias": _mean_se(1 - along),
                              "var_along_q": _mean_se((along - ex["mean_along_q"]) ** 2),
                              "tangent_var": _mean_se((y[:, 1:] ** 2).mean(axis=1))})
        data["subcritical"][d] = sub
        say(f"d = {d}: {time.perf_counter() - t0:.1f} s")
    return data


def draw_phase(data: dict, path: str) -> str:
    """Write the picture of ``phase_data`` to ``path`` (PNG); returns the path."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ds, ns = data["ds"], data["ns"]
    fig = Figure(figsize=(4.6 * len(ds), 8.2), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, len(ds), squeeze=False)
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    colors = {n: palette[i % len(palette)] for i, n in enumerate(ns)}
    markers = {n: "os^Dvp"[i % 6] for i, n in enumerate(ns)}
    for j, d in enumerate(ds):
        crit, ax = data["critical"][d], axes[0][j]
        g = np.asarray(crit["gammas"])
        for n in ns:
            ax.plot(g, crit["exact"][n], color=colors[n], lw=1.4, label=f"exact, n = {n:.0e}")
            mc = np.asarray(crit["mc"][n])
            ax.errorbar(mc[:, 0], mc[:, 1], yerr=2 * mc[:, 2], fmt=markers[n], ms=4, mfc="none",
                        color=colors[n], capsize=2, lw=1)
        ax.plot(g, crit["limit"], "k--", lw=1.2, label="limit n -> inf")
        ax.axhline(0.5, color="0.6", lw=0.6, ls=":")
        ax.axvline(crit["gamma_half_limit"], color="0.6", lw=0.6, ls=":")
        ax.set_xscale("log")
        ax.set_ylim(0, 1)
        ax.set_xlabel(r"$\gamma = \beta\,/\,n^{2/(d-1)}$")
        ax.set_ylabel(r"$E\,W_{max}$")
        ax.set_title(f"d = {d}: critical window")
        ax.legend(fontsize=7, loc="upper left")
        sub, ax = data["subcritical"][d], axes[1][j]
        b = np.asarray(sub["betas"])
        series = (("bias", r"bias $1 - E\langle q,y\rangle$", "#1f77b4"),
                  ("var_along_q", r"Var$\langle q,y\rangle$", "#d62728"),
                  ("tangent_var", "tangent variance", "#2ca02c"))
        for key, label, color in series:
            ax.plot(b, sub[key], color=color, lw=1.4, label=f"{label} (exact)")
            pts = np.array([(m["beta"], *m[key]) for m in sub["mc"]])
            ax.errorbar(pts[:, 0], pts[:, 1], yerr=2 * pts[:, 2], fmt="o", ms=3.5, color=color,
                        capsize=2, lw=1)
        ax.plot(b, sub["population_bias"], color="k", ls="--", lw=0.8,
                label=r"population bias $1 - A_d(\beta)$ (n = inf)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"$\beta$")
        ax.set_title(f"d = {d}: subcritical output, n = {data['sub_n']:.0e}")
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("Softmax attention of a unit query over n random unit keys: exact oracles (lines) "
                 f"and streaming Monte Carlo ({data['contexts']} contexts per point, +- 2 s.e.)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path)
    return path
