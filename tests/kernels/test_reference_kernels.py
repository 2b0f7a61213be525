"""Reference kernels against the certified oracle, in every dtype, under the derived budget."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, target

from attnspec.kernels.attention.alibi_slopes import alibi_slopes
from attnspec.kernels.attention.dense import dense_attention, make_dense_kernel
from attnspec.kernels.spec import KernelSpec
from attnspec.kernels.attention.tiled import make_tiled_kernel, tiled_attention
from attnspec.oracles.attention.alibi_slopes import canonical_alibi_slopes
from attnspec.properties.attention.cases import build_case
from attnspec.properties.attention.conformance import compare_with_oracle, worst_ratio
from attnspec.oracles.attention.exact import exact_attention
from attnspec.properties.attention.strategies import Limits, recipes

DTYPES = ["float16", "bfloat16", "float32", "float64"]
KERNELS = {
    "dense": dense_attention,
    "dense_top_left": make_dense_kernel(alignment="top_left"),
    "tiled": make_tiled_kernel(block_k=5),  # many tiles even on short rows
    "tiled_rounds_p": make_tiled_kernel(block_k=16, rounds_p=True),
}
SMALL = Limits(max_len=40, max_batch=2, max_heads=4, max_head_dim=24, max_scores=2 * 4 * 40 * 40)


def run_and_compare(kernel, recipe):
    spec = KernelSpec.from_declaration(kernel.attnspec)
    case = build_case(recipe)
    result = kernel(case.q, case.k, case.v, **case.kwargs)
    out, lse = result if recipe.return_lse else (result, None)
    problem = case.problem(spec.causal)
    exact = exact_attention(problem)
    assert out.shape == exact.out.shape and out.dtype == case.q.dtype
    # Rows with no visible key: out exactly 0 and lse -inf (declared "zero").
    assert torch.all(out[torch.from_numpy(exact.empty)] == 0)
    if lse is not None:
        assert torch.all(lse[torch.from_numpy(exact.empty)] == float("-inf"))
    return compare_with_oracle(problem, exact, spec, recipe.dtype, out, lse)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", KERNELS)
def test_reference_kernel_matches_the_oracle(name, dtype):
    kernel = KERNELS[name]
    spec = KernelSpec.from_declaration(kernel.attnspec)

    @settings(max_examples=25)
    @given(recipe=recipes(spec, dtype, SMALL))
    def check(recipe):
        mismatches = run_and_compare(kernel, recipe)
        ratio = worst_ratio(mismatches)
        target(ratio, label="error / budget")
        assert ratio <= 1, "; ".join(m.describe() for m in mismatches) + "\n" + recipe.to_json()

    check()


def test_an_accumulator_in_bfloat16_is_caught():
    """The budget can fail: a float32 online-softmax kernel whose running output is bfloat16."""

    def bf16_accumulator(q, k, v, block=4):
        m = torch.full(q.shape[:-1] + (1,), float("-inf"))
        total = torch.zeros(q.shape[:-1] + (1,))
        acc = torch.zeros(q.shape[:-1] + (v.shape[-1],), dtype=torch.bfloat16)
        for start in range(0, k.shape[2], block):
            s = q @ k[:, :, start:start + block].transpose(-1, -2) / q.shape[-1] ** 0.5
            new = torch.maximum(m, s.amax(-1, keepdim=True))
            p = torch.exp(s - new)
            total = total * torch.exp(m - new) + p.sum(-1, keepdim=True)
            acc = (acc.float() * torch.exp(m - new) + p @ v[:, :, start:start + block]).bfloat16()
            m = new
        return acc.float() / total

    bf16_accumulator.attnspec = {"dtypes": ["float32"]}
    from attnspec.properties.attention.recipe import Recipe

    recipe = Recipe(q_len=3, kv_len=40, head_dim=16, value_dim=16, seed=1)
    assert worst_ratio(run_and_compare(bf16_accumulator, recipe)) > 1


def test_kernels_create_nothing_on_a_fixed_device():
    # Tensors on the meta device: any tensor the kernel builds on another device (a hard-coded
    # "cpu" or "cuda") cannot combine with them and raises.
    q = torch.empty(2, 4, 5, 8, device="meta")
    k = torch.empty(2, 2, 7, 8, device="meta")
    v = torch.empty(2, 2, 7, 3, device="meta")
    mask = torch.empty(2, 4, 5, 7, dtype=torch.bool, device="meta")
    slopes = torch.empty(4, device="meta")
    for kernel in (dense_attention, tiled_attention):
        out, lse = kernel(q, k, v, causal=True, alibi_slopes=slopes, mask=mask, window=(2, 1),
                          softcap=3.0, return_lse=True)
        assert out.device.type == "meta" and out.shape == (2, 4, 5, 3) and lse.shape == (2, 4, 5)


@pytest.mark.parametrize("H", [1, 2, 3, 5, 8, 12, 16, 24, 40])
def test_kernel_alibi_slopes_match_the_exact_slopes(H):
    exact = canonical_alibi_slopes(H, dps=40)
    ours64 = alibi_slopes(H, dtype=torch.float64)
    ours32 = alibi_slopes(H, dtype=torch.float32)
    for h in range(H):
        # float64: powers of a float64 start accumulate <= ~H rounding errors of 2^-53 each.
        assert abs(float(ours64[h]) - float(exact[h])) <= (h + 2) * 2.0**-52 * float(exact[h])
        # float32: correctly rounded from the float64 value, so within half an ulp (2^-24 rel)
        # of the exact slope plus the float64 error above.
        assert abs(float(ours32[h]) - float(exact[h])) <= 2.0**-24 * float(exact[h]) * 1.0001


def test_declared_capabilities_are_valid():
    for kernel in KERNELS.values():
        spec = KernelSpec.from_declaration(kernel.attnspec)
        assert spec.lse and spec.gqa and spec.alibi and spec.mask and spec.window
        assert spec.dtypes == tuple(DTYPES)
