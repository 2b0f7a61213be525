"""Measure how close correct kernels come to their error budget, and how far the subtle bugs
exceed it. Writes the evidence tables of docs/error-budget.md:

    .venv/bin/python tests/evidence/budget_evidence.py > /tmp/budget_evidence.md

For each kernel, dtype and row length: random normal q, k, v (logit scale 1 and 30), Lq = 16,
D = Dv = 64, exact values from the oracle (tier 1 for short rows, tier 2 for long ones), and the
largest |kernel - exact| / budget over all elements of all inputs, against the probabilistic
bound P and the worst-case bound W separately. <= 1 is a pass.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch

from attnspec.kernels.registry import BUILTINS
from attnspec.kernels.spec import KernelSpec
from attnspec.oracles.attention.error_budget import error_budget
from attnspec.properties.attention.conformance import precision_model
from attnspec.oracles.attention.exact import exact_attention
from attnspec.properties.attention.cases import build_case
from attnspec.properties.attention.recipe import Recipe

sys.path.insert(0, str(Path(__file__).parents[1] / "zoo"))
import buggy_kernels as zoo  # noqa: E402


def bf16_kernel_bf16_running_output(q, k, v, **kw):
    """A bfloat16 kernel (float32 scores and softmax) whose running output is kept in
    bfloat16 between 64-key tiles."""
    return zoo._tiled(q, k, v, block=64, acc_dtype=torch.bfloat16, **kw)


bf16_kernel_bf16_running_output.attnspec = {"dtypes": ["bfloat16"], "rounds_p": False}

CORRECT = ["reference-dense", "reference-tiled", "reference-tiled-fa2", "sdpa-math",
           "sdpa-flash-cpu", "flex"]
BUGS = {
    "denominator_epsilon (1e-6)": zoo.denominator_epsilon,
    "bf16 running output, bf16 kernel": bf16_kernel_bf16_running_output,
    "half_precision_accumulation": zoo.half_precision_accumulation,
}


def ratios(kernel, spec: KernelSpec, dtype: str, kv_len: int, logit_scale: float, inputs: int):
    worst_p = worst_w = 0.0
    for seed in range(inputs):
        recipe = Recipe(q_len=16, kv_len=kv_len, head_dim=64, value_dim=64, dtype=dtype,
                        seed=seed, logit_scale=logit_scale)
        case = build_case(recipe)
        out = kernel(case.q, case.k, case.v).to(torch.float64).numpy()
        problem = case.problem(None)
        exact = exact_attention(problem)
        budget = error_budget(problem, exact.out, precision_model(spec, dtype))
        err = np.abs(out - exact.out)
        worst_p = max(worst_p, float((err / budget.probabilistic["out"]).max()))
        worst_w = max(worst_w, float((err / budget.worst_case["out"]).max()))
    return worst_p, worst_w


def main():
    lengths = [(64, 40), (1024, 8), (16384, 3)]  # (Lk, number of random inputs)
    print("| kernel | dtype | logits | " + " | ".join(f"Lk={n} P / W" for n, _ in lengths) + " |")
    print("|---|---|---|" + "---|" * len(lengths))
    rows = [(name, BUILTINS[name].build()) for name in CORRECT]
    rows += [(name, fn) for name, fn in BUGS.items()]
    for name, kernel in rows:
        spec = KernelSpec.from_declaration(kernel.attnspec)
        for dtype in spec.dtypes:
            for logit_scale in (1.0, 30.0):
                cells = []
                for kv_len, inputs in lengths:
                    p, w = ratios(kernel, spec, dtype, kv_len, logit_scale, inputs)
                    cells.append(f"{p:.3g} / {w:.3g}")
                print(f"| {name} | {dtype} | {logit_scale:g} | " + " | ".join(cells) + " |",
                      flush=True)


if __name__ == "__main__":
    main()
