"""The four token models of paper 3, as the oracles read them (numpy; no torch).

Claim [L, Geshkovski, Letrouit, Polyanskiy, Rigollet 2023; D for the auxiliary models, docs/claims.md
section 3]. Tokens x_i on S^(d-1), i = 1..n, inverse temperature beta > 0, fixed auxiliary variables:

    plain     logits L_ij = beta <x_i, x_j>,                         values u_j = x_j
    logit_pe  logits L_ij = beta <x_i, x_j> + gamma <z_i, z_j>,      values u_j = x_j
    additive  logits L_ij = beta <h_i, h_j>, h_i = x_i + C z_i,      values u_j = h_j
    prompt    plain, plus a key p_i (a fixed unit prompt) seen by token i alone, with weight
              n lambda: logit beta <x_i, p_i> + log(n lambda), value p_i

``normalisation`` is "SA" (dx_i/dt = P_(x_i)(grad_i E) / Z_i, the softmax average) or "USA"
(dx_i/dt = P_(x_i)(grad_i E) / n), where Z_i is the row's total weight (prompt included) and
E the energy of energy.py. The oracles never share code with kernels/mean_field/, which
describes the same models in its own terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("plain", "logit_pe", "additive", "prompt")


@dataclass(frozen=True)
class Model:
    """One model. ``z``: [n, m] (logit_pe, additive); ``C``: [d, m] (additive; h = x + z C^T);
    ``prompts``: [n, d] unit rows (prompt); ``lam``: the prompt weight lambda > 0."""

    kind: str
    beta: float
    normalisation: str = "SA"
    gamma: float = 0.0
    z: np.ndarray | None = None
    C: np.ndarray | None = None
    prompts: np.ndarray | None = None
    lam: float = 0.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if self.normalisation not in ("SA", "USA"):
            raise ValueError("normalisation must be 'SA' or 'USA'")
        if self.beta <= 0:
            raise ValueError("beta must be positive")
        needs = {"logit_pe": ("z",), "additive": ("z", "C"), "prompt": ("prompts",)}[self.kind] \
            if self.kind != "plain" else ()
        for name in needs:
            if getattr(self, name) is None:
                raise ValueError(f"model {self.kind} needs {name}")
        if self.kind == "prompt" and self.lam <= 0:
            raise ValueError("the prompt model needs lam > 0")
