"""Where a law's random contexts come from: the streaming Monte Carlo kernel, or a user's kernel.

A source draws ``contexts`` independent contexts (a unit query and n keys i.i.d. uniform on
S^(d-1)) at inverse temperature beta and returns per-context quantities (numpy float64):

    w_max            max_i w_i
    one_minus_w_max  1 - W_max, to full relative accuracy where W_max rounds to 1
    ipr              sum_i w_i^2
    normaliser       S = sum_i e^(-beta (1 - <q,k_i>)) (the oracles' normalisation: weights
                     relative to the top score beta, no 1/n)
    output           y = sum_i w_i k_i (identity values) in the frame where q = e_1

StreamingSource wraps ``random_context_stats`` (or any function with its signature: the tests
wrap it into mutants): S = exp(log_normaliser), 1 - W_max = R/(1+R).

KernelSource feeds a user's attention kernel (docs/kernel-contract.md) exactly sampled unit keys
(``sample_keys``: exact deficits, then full vectors) around a random unit query, one query row
per context ([B, 1, 1, D] against [B, 1, n, D]), with ``scale=beta`` (or, for a kernel that
declares no ``scale``, the query multiplied by beta sqrt(D)), so that its scores are
beta <q,k>. Everything is read through the values, which the attention output averages with the
kernel's own weights: column 0 is 1 on the nearest key and 0 elsewhere (out = W_max), column 1 its
complement (out = 1 - W_max, accurate where W_max rounds to 1), the next d columns the keys
themselves (out = y). With a kernel that returns its log-sum-exp, lse = log sum_i e^(beta<q,k_i>)
= beta + log S (the top score of a unit query against unit keys is beta), so S = exp(lse - beta),
and a second call at 2 beta gives IPR = S(2beta) / S(beta)^2. Keys and query are padded with zero
coordinates where the kernel needs another head dim (scores unchanged). The kernel runs in its
widest declared dtype on a declared device that is present.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from attnspec.kernels.scaling_limits import (householder_to, make_generator, random_context_stats,
                                              sample_keys)

from attnspec.properties.attention.calls import call_attention
from attnspec.properties.attention.cases import TORCH_DTYPES
from attnspec.properties.engine.invoker import Invoker, SubjectFailure
from attnspec.properties.engine.law import Plan, SourceFailure

QUANTITIES = ("w_max", "one_minus_w_max", "ipr", "normaliser", "output")
DTYPE_PREFERENCE = ("float64", "float32", "bfloat16", "float16")


@dataclass
class Draws:
    """Per-context quantities (numpy float64, shape [contexts]; output [contexts, d])."""

    w_max: np.ndarray | None = None
    one_minus_w_max: np.ndarray | None = None
    ipr: np.ndarray | None = None
    normaliser: np.ndarray | None = None
    output: np.ndarray | None = None


def _np(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().to("cpu", torch.float64).numpy()


class StreamingSource:
    """The streaming Monte Carlo kernel (attnspec.kernels.scaling_limits), or a function with
    the signature of ``random_context_stats`` (n, beta, *, d, contexts, outputs, seed, device)."""

    is_kernel = False

    def __init__(self, stats_fn: Callable = random_context_stats, name: str = "streaming Monte Carlo",
                 device: str | None = None):
        self.stats_fn = stats_fn
        self.name = name
        self.device = device

    def unsupported(self, needs, plan: Plan) -> str | None:
        return None

    def draw(self, n: int, beta: float, *, d: int, contexts: int, seed: int, need=QUANTITIES) -> Draws:
        s = self.stats_fn(int(n), float(beta), d=d, contexts=int(contexts), outputs="output" in need,
                          seed=int(seed), device=self.device)
        return Draws(w_max=_np(s.w_max), one_minus_w_max=_np(s.r / (1 + s.r)), ipr=_np(s.ipr),
                     normaliser=_np(torch.exp(s.log_normaliser)),
                     output=_np(s.output) if "output" in need else None)


class KernelSource:
    """A user's attention kernel (a loading.Subject) fed exactly sampled random contexts."""

    is_kernel = True

    def __init__(self, subject, *, dtype: str | None = None, device: str | None = None,
                 timeout_s: float = 120.0, max_elements: int = 1 << 23):
        self.subject = subject
        spec = subject.spec
        self.dtype = dtype or next((t for t in DTYPE_PREFERENCE if t in spec.dtypes), spec.dtypes[0])
        if device is None:
            device = "cpu" if "cpu" in subject.devices else (subject.devices[0] if subject.devices else None)
        self.device = device
        self.name = f"{subject.selector} ({self.dtype}, {device or 'no device'})"
        self.invoker: Invoker = subject.invoker  # one per kernel: a hang is remembered by all
        self.timeout_s = timeout_s
        self.max_elements = max_elements

    # ------------------------------------------------------------------ what can be read
    def _dims(self, d: int) -> tuple[int, int] | None:
        """(head dim of q and k, head dim of v) for sphere dimension d, or None."""
        spec = self.subject.spec

        def fit(lo):
            hi = spec.max_head_dim or lo + 64 * spec.head_dim_multiple
            return next((D for D in range(lo, hi + 1) if spec.supports_head_dim(D)), None)

        if spec.dv_equals_d:
            D = fit(d + 2)
            return None if D is None else (D, D)
        D, Dv = fit(d), fit(d + 2)
        return None if D is None or Dv is None else (D, Dv)

    def unsupported(self, needs, plan: Plan) -> str | None:
        spec = self.subject.spec
        dimensions = sorted({c.d for c in plan.cases})  # the sphere dimensions d it samples
        if self.device is None:
            return (f"none of the declared devices ({', '.join(spec.devices)}) is present here")
        if {"ipr", "normaliser"} & set(needs) and not spec.lse:
            return ("needs the kernel's log-sum-exp (S = exp(lse - beta), IPR = S(2beta)/S(beta)^2); "
                    "the kernel does not declare lse")
        for d in dimensions:
            if self._dims(d) is None:
                return (f"needs head dims {d} (keys) and {d + 2} (values), or zero-padded ones the "
                        f"kernel supports; it declares head_dim_multiple={spec.head_dim_multiple}, "
                        f"max_head_dim={spec.max_head_dim}")
        return None

    # ------------------------------------------------------------------ drawing
    def _call(self, q, k, v, kwargs, text):
        try:
            call = call_attention(self.invoker, self.subject.fn, q, k, v, kwargs, text,
                                  self.timeout_s)
        except SubjectFailure as failure:
            raise SourceFailure(f"{failure.kind}: {failure.message} ({text})") from None
        return call.out, call.lse

    def _scaled(self, q_unit: torch.Tensor, beta: float, D: int):
        """Query and keywords such that the kernel's scores are beta <q,k>."""
        if self.subject.spec.scale:
            return q_unit, {"scale": float(beta)}
        return q_unit * (float(beta) * math.sqrt(D)), {}

    def draw(self, n: int, beta: float, *, d: int, contexts: int, seed: int, need=QUANTITIES) -> Draws:
        D, Dv = self._dims(d)
        dtype, dev = TORCH_DTYPES[self.dtype], torch.device(self.device)
        lse = bool({"ipr", "normaliser"} & set(need))
        g = make_generator(seed=seed)
        q_unit = torch.randn(d, generator=g, dtype=torch.float64)
        q_unit /= torch.linalg.vector_norm(q_unit)
        H = householder_to(q_unit)  # H e_1 = q (symmetric): frame coordinates y' = H y
        batch = max(1, min(contexts, self.max_elements // (n * (D + Dv))))
        parts: dict[str, list] = {k: [] for k in QUANTITIES}
        done = 0
        while done < contexts:
            b = min(batch, contexts - done)
            keys = sample_keys(n, d, query=q_unit, contexts=b, generator=g)  # [b, n, d] float64
            near = torch.argmax(keys @ q_unit, dim=1)  # the nearest key (largest score)
            rows = torch.arange(b)
            V = torch.zeros((b, n, Dv), dtype=torch.float64)
            V[rows, near, 0] = 1.0
            V[:, :, 1] = 1.0
            V[rows, near, 1] = 0.0
            V[:, :, 2:2 + d] = keys
            K = torch.zeros((b, n, D), dtype=torch.float64)
            K[:, :, :d] = keys
            Q = torch.zeros((b, D), dtype=torch.float64)
            Q[:, :d] = q_unit
            k_in = K.to(dtype).unsqueeze(1).to(dev)
            v_in = V.to(dtype).unsqueeze(1).to(dev)
            text = f"{b} random contexts of {n} keys on S^{d - 1}, beta = {beta:.6g}, {self.dtype}"
            q_in, kw = self._scaled(Q, beta, D)
            if lse:
                kw["return_lse"] = True
            out, lse1 = self._call(q_in.to(dtype).view(b, 1, 1, D).to(dev), k_in, v_in, kw, text)
            out = out[:, 0, 0].to("cpu", torch.float64)
            parts["w_max"].append(out[:, 0])
            parts["one_minus_w_max"].append(out[:, 1])
            parts["output"].append(out[:, 2:2 + d] @ H)
            if lse:
                S = torch.exp(lse1[:, 0, 0].to("cpu", torch.float64) - beta)
                q2, kw2 = self._scaled(Q, 2 * beta, D)
                kw2["return_lse"] = True
                _, lse2 = self._call(q2.to(dtype).view(b, 1, 1, D).to(dev), k_in, v_in, kw2,
                                     text + " (at 2 beta, for the IPR)")
                S2 = torch.exp(lse2[:, 0, 0].to("cpu", torch.float64) - 2 * beta)
                parts["normaliser"].append(S)
                parts["ipr"].append(S2 / (S * S))
            done += b
        cat = {k: torch.cat(v).numpy() if v else None for k, v in parts.items()}
        for name in need:
            x = cat.get(name)
            if x is not None and not np.all(np.isfinite(x)):
                bad = int(np.sum(~np.isfinite(x)))
                raise SourceFailure(f"non-finite {name} in {bad} of {len(x)} contexts "
                                      f"({n} keys, d = {d}, beta = {beta:.6g}, {self.dtype})")
        return Draws(**{k: cat[k] for k in QUANTITIES})
