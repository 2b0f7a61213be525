"""The zero-initialised gate: at g = 0 the coupled layer is its fast path, bit for bit.

Claims (docs/claims.md section 4; [P] zero-initialised additive gate, [D] the identities):

    gate_zero_is_fast_only         layer(x) == fast_path(x) bitwise when g = 0 (torch.equal)
    gate_zero_ignores_slow_params  at g = 0 the output does not change when every slow
                                   parameter is redrawn (bitwise)
    gate_gradient                  d <w, layer(x)> / d g = <w, slow_path(x)> (autograd), nonzero
                                   iff some token reads a complete block (T >= P - 1 + 1) and w
                                   is generic; for T < P it is exactly 0 (the explicit zero)

The gradient is held against <w, slow_path(x)> computed in float64 from the layer's own slow
output (the gate enters linearly, so the derivative is that product exactly); tolerance: the
float64 sum of T d products, gamma_(Td) sum |w slow| (Higham 2002, eq. 3.5) plus the rounding
of the layer's dtype in the backward's own reduction, gamma_(Td) in that dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GateCheck:
    fast_only: bool          # layer(x) equals fast_path(x) bitwise at g = 0
    ignores_slow: bool       # unchanged when the slow parameters are redrawn, at g = 0
    gradient: float          # d <w, out> / d g by autograd at g = 0
    expected: float          # <w, slow_path(x)> in float64
    tolerance: float         # derived bound on |gradient - expected|


def check_gate(layer, x: torch.Tensor, seed: int = 0, gradient: bool = True) -> GateCheck:
    """The three gate claims on ``layer`` (its gate is set to 0) and input x [B, T, d]; without
    ``gradient`` only the first two (gradient, expected and tolerance are then NaN)."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        layer.gate.zero_()
        out = layer(x)
        fast_only = torch.equal(out, layer.fast_path(x))
        saved = [p.detach().clone() for p in layer.slow.parameters()]
        for p in layer.slow.parameters():
            p.copy_(10 * torch.randn(p.shape, generator=gen).to(p.device, p.dtype))
        ignores_slow = torch.equal(layer(x), out)
        for p, s in zip(layer.slow.parameters(), saved):
            p.copy_(s)
    if not gradient:
        nan = float("nan")
        return GateCheck(fast_only, ignores_slow, nan, nan, nan)
    w = torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)
    (grad,) = torch.autograd.grad((layer(x) * w).sum(), layer.gate)
    with torch.no_grad():
        slow = layer.slow_path(x)
        terms = (w.double() * slow.double()).abs()
        n = terms.numel()
        u64 = 2.0 ** -53
        u = torch.finfo(x.dtype).eps / 2
        tolerance = (n * u64 / (1 - n * u64) + n * u / (1 - n * u)) * terms.sum().item()
        expected = (w.double() * slow.double()).sum().item()
    return GateCheck(fast_only, ignores_slow, grad.item(), expected, tolerance)
