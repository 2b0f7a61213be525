"""The kernel's own torch samplers of positional-LSH block partitions (no oracle code).

Claim [P]/[C] (docs/claims.md, section 2): for a head of slope m (sigma = 1/m), each of s
independent draws partitions the positions 0..n-1 into contiguous blocks such that the
probability that positions i and j share a block is exactly P_ij = exp(-m |i - j|):

- ``"binning"`` [P][C], the paper's scheme as the authors' code draws it: width
  b ~ Gamma(shape 2, scale sigma), shift xi ~ U(0, b) given b, bucket floor((i - xi) / b).
  Gamma(2, sigma) is drawn as sigma (E1 + E2) with E1, E2 independent Exp(1), E = -log U.
- ``"gap_cut"`` [D]: each of the n - 1 gaps between neighbours is cut independently with
  probability 1 - e^-m; blocks are the maximal uncut runs.

Block ids are int64[H, s, n], nondecreasing along n, starting at 0, one id per contiguous block.
The draws come from one CPU ``torch.Generator`` seeded with ``seed``, heads in order, so the ids
depend on (n, slopes, samples, seed, scheme) alone, never on the device the kernel runs on.
"""

from __future__ import annotations

import torch

SCHEMES = ("binning", "gap_cut")


def _binning(n: int, slope: float, samples: int, generator: torch.Generator) -> torch.Tensor:
    u = torch.rand((samples, 3), generator=generator, dtype=torch.float64)
    # 1 - U lies in (0, 1]: -log never sees 0.
    width = -(torch.log1p(-u[:, 0]) + torch.log1p(-u[:, 1])) / slope  # [s] ~ Gamma(2, 1/m)
    width = width.clamp_min(torch.finfo(torch.float64).tiny)
    shift = u[:, 2] * width  # [s] ~ U(0, b)
    positions = torch.arange(n, dtype=torch.float64)
    bucket = torch.floor((positions[None, :] - shift[:, None]) / width[:, None])
    ids = torch.zeros((samples, n), dtype=torch.int64)
    # relabel 0, 1, 2, ...: a width below 1 skips buckets that hold no position
    ids[:, 1:] = torch.cumsum((bucket[:, 1:] != bucket[:, :-1]).to(torch.int64), dim=1)
    return ids  # [s, n]


def _gap_cut(n: int, slope: float, samples: int, generator: torch.Generator) -> torch.Tensor:
    cut_probability = -torch.expm1(torch.tensor(-slope, dtype=torch.float64))
    cuts = torch.rand((samples, max(n - 1, 0)), generator=generator, dtype=torch.float64) < cut_probability
    ids = torch.zeros((samples, n), dtype=torch.int64)
    ids[:, 1:] = torch.cumsum(cuts.to(torch.int64), dim=1)
    return ids  # [s, n]


def sample_block_ids(n: int, slopes, samples: int, seed: int = 0, scheme: str = "binning") -> torch.Tensor:
    """int64[H, s, n]: the block ids the kernel uses for ``slopes`` [H] (a tensor or a sequence).

    These are exactly the partitions ``positional_lsh_attention`` draws for the same arguments,
    with n = max(Lq, Lk) (position u of the ids is key j = u - (n - Lk), query i = u - (n - Lq)).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if samples < 1:
        raise ValueError(f"samples must be positive, got {samples}")
    slopes = [float(m) for m in (slopes.tolist() if isinstance(slopes, torch.Tensor) else slopes)]
    if any(not m > 0 for m in slopes):
        raise ValueError(f"slopes must be positive, got {slopes}")
    generator = torch.Generator(device="cpu")
    generator.manual_seed(int(seed))
    draw = _binning if scheme == "binning" else _gap_cut
    if not slopes:
        return torch.zeros((0, samples, n), dtype=torch.int64)
    return torch.stack([draw(n, m, samples, generator) for m in slopes])


def masks_from_block_ids(ids: torch.Tensor) -> torch.Tensor:
    """float64[..., n, n] binary masks M_ij = 1[ids_i == ids_j] (for tests and small n only)."""
    return (ids[..., :, None] == ids[..., None, :]).to(torch.float64)


def block_bounds(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For ids int64[..., n]: (start, end) int64[..., n], the first and last position of the
    block that holds each position (inclusive)."""
    start = torch.searchsorted(ids, ids, right=False)
    end = torch.searchsorted(ids, ids, right=True) - 1
    return start, end
