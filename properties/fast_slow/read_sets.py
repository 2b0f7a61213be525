"""Causality and the exact read set of the coupled layer, measured by perturbing every input token.

Claims (docs/claims.md section 4; [D] the rule, [M] measured here): under the "complete" read
rule, perturbing input token s leaves every output t < s bitwise unchanged (no future leak),
for any T and P (T < P and T not a multiple of P included); and the slow path's output at t
changes exactly when s is in oracles/fast_slow/read_rule.slow_read_set(t). Under "own_block"
and "bidirectional" some output t < s changes: the checks must flag them (negative controls).

Measured, not assumed: ``dependence`` runs the path once per perturbed token (T + 1 calls) and
records which outputs moved at all (any bit of any channel or batch row), so a leak of one ulp
is seen. A perturbation is a standard normal shift of the whole token (every channel), so a
token in the read set moves its block mean by O(1/P), far above rounding; equality is torch.equal
(+0 and -0 compare equal).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from attnspec.oracles.fast_slow.read_rule import layer_read_set, slow_read_set


@torch.no_grad()
def dependence(path, x: torch.Tensor, seed: int = 0, magnitude: float = 1.0) -> torch.Tensor:
    """[T, T] bool: entry (t, s) is True iff output row t of ``path`` ([B, T, d] -> [B, T, d])
    changed when input token s was shifted by ``magnitude`` times a standard normal vector."""
    return dependences(lambda z: (path(z),), x, seed, magnitude)[0]


@torch.no_grad()
def dependences(paths, x: torch.Tensor, seed: int = 0, magnitude: float = 1.0) -> list:
    """``dependence`` for a function returning several [B, T, d] outputs from one call (so
    that outputs computed together, such as a layer and its slow path, share their calls):
    one [T, T] bool matrix per output."""
    B, T, d = x.shape
    base = paths(x)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    moved = [torch.zeros(T, T, dtype=torch.bool) for _ in base]
    for s in range(T):
        shifted = x.clone()
        shifted[:, s] += magnitude * torch.randn(B, d, generator=gen).to(x.device, x.dtype)
        for m, out, ref in zip(moved, paths(shifted), base):
            m[:, s] = (out != ref).any(dim=2).any(dim=0).cpu()  # [T]: value inequality, as torch.equal
    return moved


@dataclass(frozen=True)
class ReadSetCheck:
    """What moved against what may move: ``leaks`` lists (t, s) with s > t that moved; ``extra``
    and ``missing`` compare the moved set with the oracle's read set, entry by entry."""

    leaks: tuple
    extra: tuple
    missing: tuple

    @property
    def causal(self) -> bool:
        return not self.leaks

    @property
    def exact(self) -> bool:
        return not self.extra and not self.missing


def check_read_sets(moved: torch.Tensor, P: int, rule: str, whole_layer: bool) -> ReadSetCheck:
    """Hold a measured dependence matrix against the oracle's read sets under ``rule`` (the
    slow path's, or the whole layer's with the gate nonzero)."""
    T = moved.shape[0]
    oracle = layer_read_set if whole_layer else slow_read_set
    leaks, extra, missing = [], [], []
    for t in range(T):
        allowed = set(oracle(t, T, P, rule))
        for s in range(T):
            m = bool(moved[t, s])
            if m and s > t:
                leaks.append((t, s))
            if m and s not in allowed:
                extra.append((t, s))
            if not m and s in allowed:
                missing.append((t, s))
    return ReadSetCheck(tuple(leaks), tuple(extra), tuple(missing))
