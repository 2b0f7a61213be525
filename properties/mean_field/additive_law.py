"""Law of the additive model: tokens go to the pushforward C z_i / |C z_i|, and tokens with equal
z merge.

Claims [D, docs/claims.md section 3; oracles/mean_field/pushforward.py, merging.py]:
* pushforward: at an equilibrium of the SA flow each token is within arcsin(rho_i / |C z_i|) of
  C z_i / |C z_i|; at any state with exact speed s_i, within
  arcsin(s_i / (|C z_i| - rho_i)) + arcsin(rho_i / |C z_i|) (the oracle's derived accuracy).
  Measured: the angle of each end token to its target against that bound, with the exact speed
  taken at the end state, plus the kernel's velocity error eps (which moves the rest point by
  at most arcsin(eps / (|C z_i| - rho_i))).
* merging: tokens with equal z end at the same point (the merging identity makes a merged
  state the energy's better one; the flow from random starts reaches it at c = 6). Measured:
  max |x_i - x_i'| over equal-z pairs below 1e-8 + 64 delta (the collapse law's threshold
  argument: the field between the pair contracts at rate >= c, measured).
Setup: z at the 6 vertices of the octahedron (distinct, |z_i - z_j| >= sqrt 2), C = c Q diag(1,
1.25, 0.8) with Q a seeded rotation, c = 6, beta = 1, SA; the merging case repeats z_0 and z_1.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from attnspec.oracles.mean_field.energy import velocity as exact_velocity
from attnspec.oracles.mean_field.pushforward import angle_bound_at, angles, targets

from attnspec.properties.engine.law import Law, Plan, case_seed
from attnspec.properties.engine.statistics import exact_measurement
from attnspec.properties.mean_field.flows import (FlowCase, keys, models, qk_max, run, starts,
                                                 supported_cases, value_max)


def octahedron() -> torch.Tensor:
    e = torch.eye(3, dtype=torch.float64)
    return torch.cat([e, -e])


def mixing(c: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    return c * Q @ torch.diag(torch.tensor([1.0, 1.25, 0.8], dtype=torch.float64))


def run_additive(source, plan: Plan, numbers: dict):
    out = []
    for index, case in supported_cases(source, plan, numbers):
        seed = case_seed(plan, index)
        z = octahedron()
        merging = case.n > 6
        if merging:
            z = torch.cat([z, z[:case.n - 6]])
        C = mixing(case.c, seed)
        kmodel, oracle = models(case, seed, z=z)
        kmodel = type(kmodel)(kmodel.kind, kmodel.beta, kmodel.normalisation, z=z, C=C)
        oracle = type(oracle)(oracle.kind, oracle.beta, oracle.normalisation, z=z.numpy(), C=C.numpy())
        final = run(source, case, kmodel, starts(case, seed), record_every=case.steps).final.numpy()
        delta = source.delta(keys(case), case.head_dim, case.beta, (1 + 1.25 * case.c) ** 2)
        eps = 2 * delta * (1 + 1.25 * case.c)
        key = f"{case.kind}_{'merging' if merging else 'pushforward'}"
        if merging:
            gaps = [np.linalg.norm(final[:, i] - final[:, 6 + i], axis=-1).max() for i in range(case.n - 6)]
            delta_merge = source.delta(keys(case), case.head_dim, case.beta, (1 + 1.25 * case.c) ** 2)
            numbers[key] = {"case": case.label(), "pair_distances": [float(g) for g in gaps]}
            out.append(exact_measurement(f"{key}: equal-z tokens coincide", float(max(gaps)), 0.0,
                                         1e-8 + 64 * delta_merge, absolute=True, note=case.label()))
            continue
        speed = np.linalg.norm(exact_velocity(final, oracle), axis=-1) + eps  # [runs, n]
        bound = np.stack([angle_bound_at(x, s, oracle.z, oracle.C, case.beta) for x, s in zip(final, speed)])
        err = angles(final, targets(oracle.z, oracle.C)[None])
        excess = float(np.max(err - bound))
        numbers[key] = {"case": case.label(), "largest_angle_to_target": float(err.max()),
                        "largest_bound": float(bound.max())}
        out.append(exact_measurement(
            f"{key}: angle(x_i, C z_i) within the derived accuracy", max(0.0, excess), 0.0, 1e-300,
            absolute=True, note=f"{case.label()}; largest angle {err.max():.3g} rad, "
                                f"largest bound {bound.max():.3g} rad"))
    return out


def _cases(runs, horizon):
    return (FlowCase("additive", "SA", 6, 3, 1.0, runs, horizon, 0.1, c=6.0),
            FlowCase("additive", "SA", 8, 3, 1.0, runs, horizon, 0.1, c=6.0))


PLANS = {"ci": Plan(_cases(4, 4.0), seed=36_000, description="2 flows x 4 runs, T = 4"),
         "thorough": Plan(_cases(32, 8.0), seed=36_500, description="2 flows x 32 runs, T = 8")}
PLANS["quick"] = Plan(_cases(2, 4.0)[:1], seed=36_000, description="pushforward, 2 runs, T = 4")

additive_pushforward = Law(
    name="additive_pushforward",
    claim="in the additive model each token goes to C z_i/|C z_i| within the derived accuracy "
          "arcsin(rho_i/|C z_i|), and tokens with equal z coincide",
    provenance="[D] docs/claims.md section 3; accuracy derived in oracles/mean_field/pushforward.py",
    statistic="angle to the target beyond its bound; largest distance within equal-z pairs",
    plans=PLANS, kernel_plans=PLANS, run=run_additive, needs=frozenset())
