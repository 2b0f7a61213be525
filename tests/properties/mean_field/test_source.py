"""source.py: a kernel that declares no scale, needs padded head dims and Dv = D still drives
the flows exactly (q pre-multiplied by beta sqrt(D), zero features added)."""

import torch

from attnspec.kernels.mean_field import TokenModel, default_attention, random_tokens, velocity
from attnspec.properties.attention.context import isolate
from attnspec.properties.loading import load_kernel
from attnspec.properties.mean_field.source import KernelFlowSource

U64 = 2.0**-53


def test_unscaled_padded_kernel_gives_the_reference_velocity():
    subject = load_kernel("sdpa-math", {"dtypes": ["float64"], "scale": False, "mask": True,
                                        "lse": True, "head_dim_multiple": 8, "dv_equals_d": True})
    isolate(subject, "none")
    source = KernelFlowSource(subject)
    assert source.unsupported(("mask",), type("P", (), {"cases": ()})()) is None
    g = torch.Generator().manual_seed(1)
    p = torch.randn(5, 3, generator=g, dtype=torch.float64)
    p /= p.norm(dim=-1, keepdim=True)
    model = TokenModel("prompt", 1.7, "SA", prompts=p, lam=0.4)  # head dim 4 -> padded to 8
    x = random_tokens(2, 5, 3, seed=4)
    ours = velocity(x, model, source.attention(3))
    reference = velocity(x, model, default_attention())
    # two float64 softmax averages of 10 unit values, one with q rescaled by beta sqrt(8):
    # (2 Lk + D + 8) u each, doubled, plus the rescaling's rounding of the scores (~4 beta u)
    assert float((ours - reference).abs().max()) <= 2 * (2 * 10 + 8 + 8 + 8) * U64
