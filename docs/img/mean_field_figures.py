"""Draw docs/img/mean_field_trajectories.png and docs/img/mean_field_pushforward.png.

Run: .venv/bin/python docs/img/mean_field_figures.py   (needs matplotlib: the 'plot' extra)

1. Token trajectories on S^2: the plain SA flow against the prompt SA flow (beta = 1, n = 8,
   lambda = 0.5, T = 30, RK4 dt = 0.1, the dense reference in float64, seed 4): the plain
   tokens collapse to one point; the prompt tokens stop apart, each pulled towards its prompt.
2. The additive model's pushforward: n = 48 tokens with z uniform on S^2 and C = c Q diag(1,
   1.25, 0.8) (Q a seeded rotation), c = 3 and 8, SA, beta = 1, T = 10 (RK4 dt = 0.05 / c) from
   uniform starts: end points against the targets C z / |C z| (longitude and latitude) at c = 8,
   and a histogram of the angles at both c.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from attnspec.kernels.mean_field import TokenModel, integrate, random_tokens
from attnspec.oracles.mean_field.pushforward import angles, targets

HERE = Path(__file__).resolve().parent


def _unit(g, rows, d):
    x = torch.randn(rows, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=-1, keepdim=True)


def trajectories(path=HERE / "mean_field_trajectories.png"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = torch.Generator().manual_seed(4)
    x0 = random_tokens(1, 8, 3, seed=4)
    prompts = _unit(g, 8, 3)
    runs = {"plain (SA): collapse": (TokenModel("plain", 1.0), None),
            "prompt (SA, lambda = 0.5): no collapse": (TokenModel("prompt", 1.0, prompts=prompts, lam=0.5), prompts)}
    fig = plt.figure(figsize=(10, 5))
    u, v = np.mgrid[0:2 * np.pi:40j, 0:np.pi:20j]
    for k, (title, (model, p)) in enumerate(runs.items()):
        ax = fig.add_subplot(1, 2, k + 1, projection="3d")
        ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85", linewidth=0.4)
        tr = integrate(x0, model, steps=300, dt=0.1).states[:, 0].numpy()  # [steps + 1, n, 3]
        colors = plt.cm.tab10(np.arange(8))
        for i in range(8):
            ax.plot(tr[:, i, 0], tr[:, i, 1], tr[:, i, 2], color=colors[i], linewidth=1.2)
            ax.scatter(*tr[0, i], color=colors[i], s=12)
            ax.scatter(*tr[-1, i], color=colors[i], s=40, marker="o", edgecolor="k")
            if p is not None:
                ax.scatter(*p[i].numpy(), color=colors[i], s=60, marker="*", edgecolor="k")
        ax.set_title(title + ("\n(stars: prompts)" if p is not None else ""), fontsize=10)
        ax.set_box_aspect((1, 1, 1))
        ax.set_axis_off()
    fig.suptitle("token trajectories on S^2, beta = 1, n = 8, T = 30 (dense reference, float64)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _additive_end(c: float, n: int = 48, seed: int = 9):
    g = torch.Generator().manual_seed(seed)
    z = _unit(g, n, 3)
    Q, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    C = c * Q @ torch.diag(torch.tensor([1.0, 1.25, 0.8], dtype=torch.float64))
    model = TokenModel("additive", 1.0, z=z, C=C)
    dt = 0.05 / c
    final = integrate(random_tokens(1, n, 3, seed=seed), model, steps=int(10 / dt), dt=dt).final[0].numpy()
    target = targets(z.numpy(), C.numpy())
    return z.numpy(), final, target, angles(final, target)


def pushforward(path=HERE / "mean_field_pushforward.png", cs=(3.0, 8.0)):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def lonlat(x):
        return np.degrees(np.arctan2(x[:, 1], x[:, 0])), np.degrees(np.arcsin(np.clip(x[:, 2], -1, 1)))

    ends = {c: _additive_end(c) for c in cs}
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    z, final, target, _ = ends[cs[-1]]
    a.scatter(*lonlat(target), s=70, facecolor="none", edgecolor="tab:red", label="C z / |C z| (pushforward)")
    a.scatter(*lonlat(final), s=12, color="tab:blue", label="x_i at T = 10")
    a.scatter(*lonlat(z), s=8, color="0.6", marker="x", label="z_i")
    a.set_xlabel("longitude (deg)")
    a.set_ylabel("latitude (deg)")
    a.legend(fontsize=8, loc="lower left")
    a.set_title(f"additive PE (c = {cs[-1]:g}, beta = 1, n = 48): end points vs pushforward", fontsize=10)
    summary = {}
    for c, (_, _, _, err) in ends.items():
        b.hist(np.log10(np.maximum(err, 1e-17)), bins=24, alpha=0.6,
               label=f"c = {c:g}: median {np.median(err):.2g}, largest {err.max():.2g} rad")
        summary[c] = (float(np.median(err)), float(err.max()))
    b.set_xlabel("log10 angle(x_i, C z_i) (rad)")
    b.set_ylabel("tokens")
    b.legend(fontsize=8)
    b.set_title("distance to the pushforward at T = 10 (48 tokens, z uniform on S^2)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path, summary


if __name__ == "__main__":
    print(trajectories())
    print(pushforward())
