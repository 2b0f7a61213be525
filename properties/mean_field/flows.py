"""Shared by the laws: one case's models (the kernels' and the oracles' descriptions of the same
model, built from the same numbers) and its flow, run on a source's attention."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from attnspec.kernels.mean_field import TokenModel, integrate, random_tokens
from attnspec.oracles.mean_field.model import Model

from attnspec.properties.engine.law import Plan


@dataclass(frozen=True)
class FlowCase:
    """One flow: ``runs`` seeded starts of n tokens on S^(d-1), model ``kind`` at ``beta``, RK4
    steps of ``dt`` up to ``horizon``. Model parameters: gamma (logit_pe), c (additive: C = c I),
    lam and theta (prompt: prompts drawn at angle at most theta... see auxiliaries)."""

    kind: str
    normalisation: str
    n: int
    d: int
    beta: float
    runs: int
    horizon: float
    dt: float
    gamma: float = 0.0
    c: float = 0.0
    lam: float = 0.0

    @property
    def contexts(self) -> int:
        return self.runs

    @property
    def steps(self) -> int:
        return int(round(self.horizon / self.dt))

    @property
    def head_dim(self) -> int:
        return self.d + {"logit_pe": 2, "prompt": 1}.get(self.kind, 0)

    def label(self) -> str:
        extra = {"logit_pe": f", gamma={self.gamma:g}", "additive": f", c={self.c:g}",
                 "prompt": f", lambda={self.lam:g}"}.get(self.kind, "")
        return (f"{self.kind} {self.normalisation} n={self.n} d={self.d} beta={self.beta:g}{extra}, "
                f"{self.runs} runs, T={self.horizon:g}, dt={self.dt:g}")


def unit_rows(g: torch.Generator, rows: int, d: int) -> torch.Tensor:
    x = torch.randn(rows, d, generator=g, dtype=torch.float64)
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)


def models(case: FlowCase, seed: int, *, z=None, prompts=None):
    """(TokenModel, oracle Model) of a case with auxiliaries drawn from ``seed`` (unit z in R^2
    for logit_pe, unit z in R^d with C = c I for additive, unit prompts for prompt), or given."""
    g = torch.Generator().manual_seed(int(seed) + 7919)
    kw, ow = {}, {}
    if case.kind == "logit_pe":
        z = unit_rows(g, case.n, 2) if z is None else z
        kw, ow = dict(gamma=case.gamma, z=z), dict(gamma=case.gamma, z=z.numpy())
    elif case.kind == "additive":
        z = unit_rows(g, case.n, case.d) if z is None else z
        C = case.c * torch.eye(case.d, dtype=torch.float64)
        kw, ow = dict(z=z, C=C), dict(z=z.numpy(), C=C.numpy())
    elif case.kind == "prompt":
        prompts = unit_rows(g, case.n, case.d) if prompts is None else prompts
        kw, ow = dict(prompts=prompts, lam=case.lam), dict(prompts=prompts.numpy(), lam=case.lam)
    return (TokenModel(case.kind, case.beta, case.normalisation, **kw),
            Model(case.kind, case.beta, case.normalisation, **ow))


def starts(case: FlowCase, seed: int) -> torch.Tensor:
    return random_tokens(case.runs, case.n, case.d, seed=seed)


def run(source, case: FlowCase, model: TokenModel, x0: torch.Tensor, *, dt: float | None = None,
        record_every: int = 1):
    """The case's flow from x0 on the source's attention: a Trajectory (float64 states)."""
    dt = case.dt if dt is None else dt
    steps = int(round(case.horizon / dt))
    return integrate(x0, model, steps=steps, dt=dt, attention=source.attention(case.d),
                     dtype=source.torch_dtype, record_every=record_every)


def qk_max(case: FlowCase) -> float:
    """max |q||k| of the case's attention calls (unit tokens; bounds for each model)."""
    if case.kind == "additive":
        return (1 + case.c) ** 2
    if case.kind == "logit_pe":
        return (1 + case.gamma / case.beta) * 2
    if case.kind == "prompt":
        return np.sqrt(2) * np.sqrt(1 + (np.log(max(case.n * case.lam, 1e-300)) / case.beta) ** 2)
    return 1.0


def value_max(case: FlowCase) -> float:
    return 1 + case.c if case.kind == "additive" else 1.0


def keys(case: FlowCase) -> int:
    return 2 * case.n if case.kind == "prompt" else case.n


def needs(case: FlowCase) -> tuple[str, ...]:
    """The capabilities a case's flow calls on (kernels/mean_field/models.py)."""
    return (("mask",) if case.kind == "prompt" else ()) + (("lse",) if case.normalisation == "USA" else ())


def supported_cases(source, plan, numbers: dict):
    """(index, case) of the plan's cases the source can run; the others are listed in
    numbers["not_applicable"] with the reason (a law with no case left says so as a failure of
    its plan: the suite marks such laws not applicable before they run)."""
    out = []
    for index, case in enumerate(plan.cases):
        why = source.unsupported(needs(case), Plan((case,), plan.seed))
        if why:
            numbers.setdefault("not_applicable", []).append(f"{case.label()}: {why}")
        else:
            out.append((index, case))
    return out
