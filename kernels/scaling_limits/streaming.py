"""Streaming Monte Carlo of softmax attention over very long random contexts.

Many independent contexts, each a unit query q and n i.i.d. keys, are processed in chunks of keys
with a running minimum of the score deficit u = (max score) - <q, k> (a safe running
log-sum-exp); per context the kernel returns

    w_max       max_i w_i,  w_i = e^(-beta u_i) / sum_j e^(-beta u_j)
    r           R = sum over non-nearest keys of e^(-beta (u_j - u_min)), so w_max = 1/(1+R); R is
                accumulated as a sum of non-negative terms and keeps full relative accuracy even
                when w_max rounds to 1.0
    log_normaliser  log D, D = sum_i e^(-beta u_i) (= -beta u_min + log1p(R); no 1/n)
    ipr         sum_i w_i^2
    u_min       the smallest deficit
    mean_deficit sum_i w_i u_i (= 1 - <q, y> for identity values, without cancellation)
    output      y = sum_i w_i k_i (identity values), when ``outputs=True`` (uniform sphere keys)
    values      sum_i w_i phi(u_i) for a user function phi of the deficit (zonal values), optional

Sampling is exact in distribution:
  * keys uniform on S^(d-1) (``key_law="sphere"``): u is drawn directly, never as 1 - <q,k> from a
    sampled key (that loses all relative accuracy near 0, exactly where the nearest keys live):
      d = 3: u = 2 U (Archimedes: (1+t)/2 is uniform);
      d != 3: 1 - t^2 = W ~ Beta(a, 1/2), a = (d-1)/2, as W = X/(X + N^2/2), X ~ Gamma(a),
              N ~ N(0,1), and sign(t) = sign(N) (independent of N^2), so
              u = W / (1 + sqrt(1 - W)) when t > 0 and u = 1 + sqrt(1 - W) otherwise.
    With ``outputs=True`` the full key is k = (1 - u) q + sqrt(u (2 - u)) e, e uniform on the unit
    sphere of the tangent space (d - 1 normals normalised): the same law as a uniform key, with u
    exact.
  * unnormalised Gaussian keys N(0, sigma^2 I) (``key_law="gaussian"``): the score <q, k> ~ N(0, sigma^2)
    for a unit query; u = -score.

The kernel depends on torch only (no attnspec.oracles import: kernels never share code with the
oracles that judge them). Device and generator are arguments; nothing is hard-coded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

Tensor = torch.Tensor


@dataclass
class RandomContextStats:
    """Per-context statistics (tensors of shape [contexts], output [contexts, d])."""

    n: int
    beta: float
    d: int | None
    key_law: str
    w_max: Tensor
    r: Tensor
    log_normaliser: Tensor
    ipr: Tensor
    u_min: Tensor
    mean_deficit: Tensor
    output: Tensor | None = None
    values: Tensor | None = None

    @property
    def normaliser(self) -> Tensor:
        """D = sum_i e^(-beta u_i)."""
        return torch.exp(self.log_normaliser)

    @property
    def one_minus_w_max(self) -> Tensor:
        """1 - w_max = R / (1 + R), accurate where w_max rounds to 1."""
        return self.r / (1 + self.r)


def make_generator(device: str | torch.device | None = None, seed: int | None = None) -> torch.Generator:
    """A torch.Generator on ``device`` seeded with ``seed`` (fresh entropy when None)."""
    g = torch.Generator(device=torch.device(device) if device is not None else "cpu")
    if seed is None:
        g.seed()
    else:
        g.manual_seed(int(seed))
    return g


def sample_deficits(shape, d: int, *, generator: torch.Generator, device=None,
                    dtype=torch.float64) -> Tensor:
    """Exact draws of u = 1 - <q, k> for keys uniform on S^(d-1) (see the module docstring)."""
    if d < 2:
        raise ValueError("d >= 2")
    if d == 3:
        return 2 * torch.rand(shape, generator=generator, device=device, dtype=dtype)
    a = (d - 1) / 2
    conc = torch.full(shape, a, device=device, dtype=dtype)
    x = torch._standard_gamma(conc, generator=generator)
    z = torch.randn(shape, generator=generator, device=device, dtype=dtype)
    w = x / (x + 0.5 * z * z)
    root = torch.sqrt(1 - w)
    return torch.where(z > 0, w / (1 + root), 1 + root)


def sample_tangent_directions(shape, d: int, *, generator: torch.Generator, device=None,
                              dtype=torch.float64) -> Tensor:
    """Uniform unit vectors of R^(d-1) (the tangent space at q), shape [*shape, d-1]."""
    g = torch.randn((*shape, d - 1), generator=generator, device=device, dtype=dtype)
    return g / torch.linalg.vector_norm(g, dim=-1, keepdim=True)


def householder_to(query: Tensor) -> Tensor:
    """Orthogonal H (d x d) with H e_1 = query (unit): H = I - 2 v v^T / v^T v, v = e_1 - query."""
    q = query / torch.linalg.vector_norm(query)
    d = q.shape[0]
    e1 = torch.zeros_like(q)
    e1[0] = 1
    v = e1 - q
    nv = torch.dot(v, v)
    eye = torch.eye(d, dtype=q.dtype, device=q.device)
    if nv == 0:
        return eye
    return eye - 2 * torch.outer(v, v) / nv


def sample_keys(n: int, d: int, *, query: Tensor | None = None, contexts: int = 1,
                generator: torch.Generator, device=None, dtype=torch.float64) -> Tensor:
    """Full unit keys uniform on S^(d-1), shape [contexts, n, d], built around ``query`` (default e_1)
    from exact deficits: k = (1 - u) q + sqrt(u(2-u)) e. For feeding real attention kernels."""
    u = sample_deficits((contexts, n), d, generator=generator, device=device, dtype=dtype)
    e = sample_tangent_directions((contexts, n), d, generator=generator, device=device, dtype=dtype)
    k = torch.cat([(1 - u).unsqueeze(-1), torch.sqrt(u * (2 - u)).unsqueeze(-1) * e], dim=-1)
    if query is not None:
        H = householder_to(query.to(device=k.device, dtype=dtype))
        k = k @ H.T
    return k


def _default_chunk(contexts: int, n: int, outputs: bool, d: int | None) -> int:
    # blocks of about 2^19 elements ([contexts, chunk], times d with key vectors) and at least
    # 1024 keys per step: measured best on a 2-core CPU (7e7 keys/s at d = 3, float64)
    budget = (1 << 19) // max(1, d or 1) if outputs else (1 << 19)
    return int(max(1, min(n, max(1024, budget // max(1, contexts)))))


def random_context_stats(n: int, beta: float, *, d: int | None = None, contexts: int = 1,
                         key_law: str = "sphere", sigma: float = 1.0, outputs: bool = False,
                         value_fn: Callable[[Tensor], Tensor] | None = None,
                         query: Tensor | None = None, chunk: int | None = None,
                         context_batch: int | None = None,
                         generator: torch.Generator | None = None, seed: int | None = None,
                         device: str | torch.device | None = None,
                         dtype: torch.dtype = torch.float64) -> RandomContextStats:
    """Run ``contexts`` independent contexts of ``n`` keys at inverse temperature ``beta``.

    Parameters: ``d`` (sphere dimension, required for ``key_law="sphere"``); ``key_law`` "sphere"
    or "gaussian" (scores N(0, sigma^2)); ``outputs`` to return y = sum_i w_i k_i (sphere only);
    ``value_fn(u) -> [..., dv] or [...]`` for zonal values phi(u); ``query`` (unit d-vector; outputs
    are given in the frame where it is e_1 unless a query is passed); ``chunk`` keys per step;
    ``context_batch`` contexts processed together; ``generator``/``seed``/``device``/``dtype``.

    Returns a RandomContextStats of per-context tensors on ``device``. Contexts are independent and
    every key is drawn exactly (see the module docstring); with a seeded generator the run is
    reproducible for a given (chunk, context_batch).
    """
    if key_law not in ("sphere", "gaussian"):
        raise ValueError("key_law must be 'sphere' or 'gaussian'")
    if key_law == "sphere" and d is None:
        raise ValueError("d is required for sphere keys")
    if outputs and key_law != "sphere":
        raise ValueError("outputs need sphere keys")
    if generator is None:
        generator = make_generator(device, seed)
    dev = torch.device(device) if device is not None else generator.device
    beta_f = float(beta)
    if context_batch is None:
        # bound the working set: at most ~2^22 elements per [batch, 1024 keys (x d)] block
        context_batch = max(1, min(contexts, (1 << 22) // (1024 * (d if outputs else 1))))
    if chunk is None:
        chunk = _default_chunk(min(contexts, context_batch), n, outputs, d)
    pieces = []
    done = 0
    while done < contexts:
        cb = min(context_batch, contexts - done)
        pieces.append(_run_batch(n, beta_f, cb, d, key_law, sigma, outputs, value_fn, chunk,
                                 generator, dev, dtype))
        done += cb
    cat = lambda k: torch.cat([p[k] for p in pieces]) if pieces[0][k] is not None else None
    out = cat("output")
    if out is not None and query is not None:
        H = householder_to(query.to(device=out.device, dtype=dtype))
        out = out @ H.T
    return RandomContextStats(n=n, beta=beta_f, d=d, key_law=key_law, w_max=cat("w_max"), r=cat("r"),
                              log_normaliser=cat("log_normaliser"), ipr=cat("ipr"), u_min=cat("u_min"),
                              mean_deficit=cat("mean_deficit"), output=out, values=cat("values"))


def _chunks(n, C, d, key_law, sigma, outputs, chunk, gen, dev, dtype):
    done = 0
    while done < n:
        k = min(chunk, n - done)
        if key_law == "sphere":
            u = sample_deficits((C, k), d, generator=gen, device=dev, dtype=dtype)
        else:
            u = -sigma * torch.randn((C, k), generator=gen, device=dev, dtype=dtype)
        e = sample_tangent_directions((C, k), d, generator=gen, device=dev, dtype=dtype) if outputs else None
        yield u, e
        done += k


def _run_batch(n, beta, C, d, key_law, sigma, outputs, value_fn, chunk, gen, dev, dtype):
    return stream_reduce(_chunks(n, C, d, key_law, sigma, outputs, chunk, gen, dev, dtype), beta,
                         value_fn=value_fn)


def stream_reduce(chunks, beta: float, *, value_fn: Callable[[Tensor], Tensor] | None = None) -> dict:
    """The streaming reduction over given chunks (u [C, k], e [C, k, d-1] or None) of deficits and
    tangent directions: safe running minimum, R and the weighted sums (see the module docstring).
    Returns a dict of tensors (w_max, r, log_normaliser, ipr, u_min, mean_deficit, output, values)."""
    m_run = r1 = r2 = nu = ntan = vals = None
    outputs = False
    for u, e in chunks:
        C = u.shape[0]
        rows = torch.arange(C, device=u.device)
        outputs = e is not None
        c, idx = torch.min(u, dim=1)
        om = torch.exp(-beta * (u - c.unsqueeze(1)))          # 1 at the chunk minimum
        nu_c = (om * u).sum(dim=1)
        if outputs:
            rad = torch.sqrt(u * (2 - u))
            ntan_c = torch.einsum("ck,ckj->cj", om * rad, e)
        if value_fn is not None:
            phi = value_fn(u)
            if phi.dim() == 2:
                phi = phi.unsqueeze(-1)
            vals_c = torch.einsum("ck,ckj->cj", om, phi)
        om[rows, idx] = 0                                       # exclude the chunk minimum
        r1_c = om.sum(dim=1)
        r2_c = (om * om).sum(dim=1)
        if m_run is None:
            m_run, r1, r2, nu = c, r1_c, r2_c, nu_c
            if outputs:
                ntan = ntan_c
            if value_fn is not None:
                vals = vals_c
            continue
        new_min = c < m_run
        # factor that brings the side with the larger minimum to the smaller one
        f = torch.exp(-beta * torch.abs(m_run - c))
        f2 = f * f
        r1 = torch.where(new_min, (r1 + 1) * f + r1_c, r1 + (r1_c + 1) * f)
        r2 = torch.where(new_min, (r2 + 1) * f2 + r2_c, r2 + (r2_c + 1) * f2)
        nu = torch.where(new_min, nu * f + nu_c, nu + nu_c * f)
        if outputs:
            f1 = f.unsqueeze(1)
            ntan = torch.where(new_min.unsqueeze(1), ntan * f1 + ntan_c, ntan + ntan_c * f1)
        if value_fn is not None:
            f1 = f.unsqueeze(1)
            vals = torch.where(new_min.unsqueeze(1), vals * f1 + vals_c, vals + vals_c * f1)
        m_run = torch.minimum(m_run, c)
    T = 1 + r1
    res = {
        "w_max": 1 / T,
        "r": r1,
        "log_normaliser": -beta * m_run + torch.log1p(r1),
        "ipr": (1 + r2) / (T * T),
        "u_min": m_run,
        "mean_deficit": nu / T,
        "output": None,
        "values": None,
    }
    if outputs:
        res["output"] = torch.cat([(1 - nu / T).unsqueeze(1), ntan / T.unsqueeze(1)], dim=1)
    if value_fn is not None:
        v = vals / T.unsqueeze(1)
        res["values"] = v.squeeze(1) if v.shape[1] == 1 else v
    return res


def critical_beta(n: int, d: int, gamma: float) -> float:
    """beta = gamma n^(2/(d-1)) (the critical scale for uniform keys), float."""
    return float(gamma) * float(n) ** (2.0 / (d - 1))


def keys_per_second(n: int, d: int, contexts: int, beta: float, *, repeats: int = 1, **kw) -> float:
    """Measured throughput (keys processed per second) of random_context_stats on these arguments."""
    import time

    random_context_stats(min(n, 4096), beta, d=d, contexts=min(contexts, 4), **kw)  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        random_context_stats(n, beta, d=d, contexts=contexts, **kw)
    dt = time.perf_counter() - t0
    return repeats * n * contexts / dt
