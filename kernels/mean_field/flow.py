"""A batched integrator of the SA and USA token flows on the sphere, driven by any contract
kernel (the dense reference by default).

Scheme: classical RK4 on the ambient extension f(x) = P_x(a(x)) (P_x y = y - <x, y> x, which
leaves |x| = 1 invariant: d|x|^2/dt = 2 <x, y> (1 - |x|^2)), each step followed by a projection
x <- x / |x|. Order 4: the global error after T is O(h^4 T) (measured in
tests/kernels/mean_field). Four attention calls per step; the state stays in float64 and is cast
to the kernel's ``dtype`` for each call only, as a model would feed a kernel its activations.

Shapes: tokens x [B, n, d] (B independent runs, e.g. seeds, advanced together); the kernel sees
[B, 1, L, D]. No device is hard-coded: everything lives on x's device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from attnspec.kernels.mean_field.models import TokenModel, attention_call

Attention = Callable[..., object]  # the contract: fn(q, k, v, *, scale=, mask=, return_lse=)


def default_attention() -> Attention:
    """The built-in dense reference kernel (float64 accumulation for float64 inputs)."""
    from attnspec.kernels.attention.dense import make_dense_kernel

    return make_dense_kernel(accumulation=torch.float64)


def project(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """P_x y row by row: [..., d]."""
    return y - (x * y).sum(-1, keepdim=True) * x


def velocity(x: torch.Tensor, model: TokenModel, attention: Attention | None = None,
             dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """dx/dt [B, n, d] (float64) from one attention call of ``attention`` in ``dtype``."""
    attention = attention or default_attention()
    call = attention_call(model, x)
    kwargs = {"scale": call.scale}
    if call.mask is not None:
        kwargs["mask"] = call.mask
    usa = model.normalisation == "USA"
    if usa:
        kwargs["return_lse"] = True
    result = attention(call.q.to(dtype), call.k.to(dtype), call.v.to(dtype), **kwargs)
    out, lse = result if usa else (result, None)
    a = out[:, 0].to(torch.float64)  # [B, n, d]
    if usa:
        a = a * (torch.exp(lse[:, 0].to(torch.float64)) / x.shape[1]).unsqueeze(-1)
    return project(x, a)


@dataclass
class Trajectory:
    """times [S]; states [S, B, n, d] (float64) at those times."""

    times: torch.Tensor
    states: torch.Tensor

    @property
    def final(self) -> torch.Tensor:
        return self.states[-1]


def rk4_step(x: torch.Tensor, h: float, field: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    k1 = field(x)
    k2 = field(x + (h / 2) * k1)
    k3 = field(x + (h / 2) * k2)
    k4 = field(x + h * k3)
    y = x + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
    return y / torch.linalg.vector_norm(y, dim=-1, keepdim=True)


def integrate(x0: torch.Tensor, model: TokenModel, *, steps: int, dt: float,
              attention: Attention | None = None, dtype: torch.dtype = torch.float64,
              record_every: int = 1) -> Trajectory:
    """``steps`` RK4 steps of size ``dt`` from x0 [B, n, d] (rows normalised first), recording
    the state every ``record_every`` steps (and at 0 and at the end)."""
    attention = attention or default_attention()
    x = x0.to(torch.float64)
    x = x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)

    def field(y):
        return velocity(y, model, attention, dtype)

    times, states = [0.0], [x]
    for s in range(1, steps + 1):
        x = rk4_step(x, dt, field)
        if s % record_every == 0 or s == steps:
            times.append(s * dt)
            states.append(x)
    return Trajectory(torch.tensor(times, dtype=torch.float64), torch.stack(states))


def random_tokens(B: int, n: int, d: int, *, seed: int, device=None) -> torch.Tensor:
    """B independent uniform starts of n tokens on S^(d-1) [B, n, d] (float64, seeded)."""
    g = torch.Generator().manual_seed(int(seed))
    x = torch.randn(B, n, d, generator=g, dtype=torch.float64)
    return (x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)).to(device or "cpu")
