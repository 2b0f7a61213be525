"""Law: unit norm, permutation equivariance and the hemisphere invariant along the flow.

Claims [L, Geshkovski et al. 2023]: |x_i| = 1 is invariant; the flow commutes with any
permutation of the tokens (with their auxiliary variables); if min_i <x_i(0), w> >= 0 then
m(t) = min_i <x_i(t), w> is non-decreasing (oracles/mean_field/hemisphere.py).

Tolerances [D]:
* unit norm: the integrator projects after each step; | |x| - 1 | <= (d + 4) u (float64: the norm
  of d terms and a division, gamma_(d+2) rounded up) checks that
  nothing non-finite or unnormalised came back;
* permutation: the flow from x[perm] against the flow from x, permuted. A correct kernel's two
  runs differ only by rounding (its reduction order over keys changes with the permutation):
  at most 2 eps per unit time, eps = 2 delta vmax, grown by at most e^(L t) with L = 1 + 4 beta
  qk_max vmax (a Lipschitz bound of x -> P_x a(x): the softmax weights move by at most
  2 beta |dq||k| per unit move in l1, the projection adds 1 + |a|); the horizon T = 2 keeps
  e^(L T) near 1e4, so the tolerance is 2 eps T e^(L T);
* hemisphere: the starts are flipped into the half-space <x, w> >= 0 of a random w; each
  step may lower m by at most the step's velocity error, h eps, so
  m(t_(k+1)) >= m(t_k) - h eps - 8 u.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from attnspec.oracles.mean_field.hemisphere import hemisphere_margin

from attnspec.properties.engine.law import Law, Plan, case_seed
from attnspec.properties.engine.statistics import exact_measurement
from attnspec.properties.mean_field.flows import (FlowCase, keys, models, qk_max, run, starts,
                                                 supported_cases, value_max)

U64 = 2.0**-53


def run_invariants(source, plan: Plan, numbers: dict):
    out = []
    for index, case in supported_cases(source, plan, numbers):
        seed = case_seed(plan, index)
        key = f"{case.kind}_{case.normalisation}"
        delta = source.delta(keys(case), case.head_dim, case.beta, qk_max(case))
        eps = 2 * delta * value_max(case)
        g = torch.Generator().manual_seed(seed + 1)
        perm = torch.randperm(case.n, generator=g)
        kmodel, _ = models(case, seed)
        x0 = starts(case, seed)
        if case.kind == "plain":  # flip the starts into the half-space of a random w
            w = torch.randn(case.d, generator=g, dtype=torch.float64)
            w /= torch.linalg.vector_norm(w)
            x0 = torch.where((x0 @ w)[..., None] < 0, -x0, x0)
        path = run(source, case, kmodel, x0).states
        # the permuted model: auxiliaries permuted with the tokens
        pz = None if kmodel.z is None else kmodel.z[perm]
        pp = None if kmodel.prompts is None else kmodel.prompts[perm]
        pmodel, _ = models(case, seed, z=pz, prompts=pp)
        ppath = run(source, case, pmodel, x0[:, perm]).states
        norm_err = float((torch.linalg.vector_norm(path, dim=-1) - 1).abs().max())
        perm_err = float((ppath[-1] - path[-1][:, perm]).abs().max())
        L = 1 + 4 * case.beta * qk_max(case) * value_max(case)
        perm_tol = 2 * eps * case.horizon * math.exp(L * case.horizon) + 8 * U64
        numbers[key] = {"case": case.label(), "unit_norm_error": norm_err,
                        "permutation_difference": perm_err, "permutation_tolerance": perm_tol}
        out.append(exact_measurement(f"{key}: unit norm", norm_err, 0.0, (case.d + 4) * U64, absolute=True,
                                     note=case.label()))
        out.append(exact_measurement(f"{key}: permutation equivariance", perm_err, 0.0, perm_tol,
                                     absolute=True, note="flow of x[perm] vs flow of x, permuted"))
        if case.kind == "plain":
            m = hemisphere_margin(path.numpy(), w.numpy())  # [steps + 1, runs]
            drop = float(np.max(-(np.diff(m, axis=0)) - case.dt * eps - 8 * U64))
            numbers[key]["hemisphere_margin_start_end"] = [float(m[0].min()), float(m[-1].min())]
            out.append(exact_measurement(f"{key}: hemisphere margin non-decreasing",
                                         max(0.0, drop), 0.0, 1e-300, absolute=True,
                                         note="largest step decrease beyond h eps + 8 u (0: none)"))
    return out


def _cases(runs):
    return (FlowCase("plain", "SA", 8, 3, 1.0, runs, 2.0, 0.1),
            FlowCase("prompt", "USA", 6, 3, 1.0, runs, 2.0, 0.1, lam=0.5))


PLANS = {"ci": Plan(_cases(4), seed=33_000, description="2 flows x 4 runs, T = 2"),
         "thorough": Plan(_cases(32), seed=33_500, description="2 flows x 32 runs, T = 2")}
PLANS["quick"] = Plan(_cases(2)[:1], seed=33_000, description="plain SA, 2 runs, T = 2")

flow_invariants = Law(
    name="flow_invariants",
    claim="tokens stay on the sphere, the flow commutes with permutations of the tokens, and "
          "min_i <x_i, w> never decreases from a start in the hemisphere <x, w> >= 0",
    provenance="[L] Geshkovski et al. 2023 (docs/claims.md section 3)",
    statistic="largest norm error, largest permuted-flow difference, largest margin decrease",
    plans=PLANS, kernel_plans=PLANS, run=run_invariants, needs=frozenset())
