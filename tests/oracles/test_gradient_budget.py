"""The gradient budget (oracles/attention/gradient_budget.py): its float64 gradients are the
contract's, correct backward passes stay inside it, a backward a few ulps of its input dtype
worse does not, and it is never NaN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnspec.oracles.attention.error_budget import PrecisionModel
from attnspec.oracles.attention.exact_gradients import exact_gradients
from attnspec.oracles.attention.gradient_budget import gradient_budget, gradients64
from attnspec.oracles.attention.gradient_problem import GradientProblem
from attnspec.oracles.attention.problem import AttentionProblem

TENSORS = ("dq", "dk", "dv")


def _problem(seed, dtype=np.float32, Lq=5, Lk=9, D=8, Dv=6, Hq=2, Hk=1, logit=1.0, **options):
    rng = np.random.default_rng(seed)
    q = (rng.standard_normal((1, Hq, Lq, D)) * logit).astype(dtype)
    k = rng.standard_normal((1, Hk, Lk, D)).astype(dtype)
    v = rng.standard_normal((1, Hk, Lk, Dv)).astype(dtype)
    d_out = rng.standard_normal((1, Hq, Lq, Dv)).astype(dtype)
    return GradientProblem.build(AttentionProblem.build(q, k, v, **options), d_out)


def _autograd(problem: GradientProblem, dtype: torch.dtype) -> dict[str, np.ndarray]:
    """Gradients of a plain dense attention in ``dtype`` (its own code, written here), through
    torch autograd: a correct backward of that precision."""
    f = problem.forward
    q, k, v = (torch.tensor(x, dtype=dtype, requires_grad=True) for x in (f.q, f.k, f.v))
    G = f.group_size
    s = (q @ k.repeat_interleave(G, 1).transpose(-1, -2)) / float(np.sqrt(f.head_dim))
    if f.causal == "bottom_right":
        i = torch.arange(f.q_len)[:, None]
        j = torch.arange(f.kv_len)[None, :]
        s = s.masked_fill(j > i + f.kv_len - f.q_len, float("-inf"))
    out = torch.softmax(s, dim=-1) @ v.repeat_interleave(G, 1)
    grads = torch.autograd.grad(out, (q, k, v), torch.tensor(problem.d_out, dtype=dtype))
    return {n: g.double().numpy() for n, g in zip(TENSORS, grads)}


def test_float64_gradients_are_autograds():
    problem = _problem(0, np.float64, causal="bottom_right")
    ours, theirs = gradients64(problem), _autograd(problem, torch.float64)
    for name in TENSORS:
        # float64 evaluations of the same sums: agree to ~1e-15 of their magnitudes
        assert np.allclose(ours[name], theirs[name], rtol=1e-12, atol=1e-13), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", range(6))
def test_a_correct_backward_stays_inside_its_budget(dtype, seed):
    name = str(dtype).removeprefix("torch.")
    problem = _problem(seed, logit=1.0 + 10 * (seed % 2), causal="bottom_right")
    exact = exact_gradients(problem).tensors()
    got = _autograd(problem, dtype)
    budget = gradient_budget(problem, PrecisionModel(name, name, False))
    for t in TENSORS:
        assert np.all(np.abs(got[t] - exact[t]) <= budget.in_force(t)), t


def test_a_backward_a_little_worse_than_its_precision_is_caught():
    """float32 gradients whose dQ is then rounded to bfloat16 (2^-8 relative): far beyond what
    a float32 backward may err, and the budget says so."""
    problem = _problem(3)
    exact = exact_gradients(problem).tensors()
    got = _autograd(problem, torch.float32)
    rounded = torch.tensor(got["dq"]).to(torch.bfloat16).double().numpy()
    budget = gradient_budget(problem, PrecisionModel("float32", "float32", False))
    assert np.max(np.abs(rounded - exact["dq"]) / budget.in_force("dq")) > 10


def test_extreme_logits_give_finite_or_infinite_budgets_never_nan():
    # scores of ~1e9 in float32: the score roundings alone move P by e^hundreds
    problem = _problem(1, logit=1e8, softcap=5.0)
    budget = gradient_budget(problem, PrecisionModel("bfloat16", "float32", True))
    for t in TENSORS:
        assert not np.isnan(budget.in_force(t)).any(), t


def test_subnormal_float64_gradients_have_a_nonzero_budget():
    """Keys ~730 below the row's best score have weights ~1e-317, float64 subnormals, and so do
    their dV rows: a correct float64 backward is then off by a subnormal ulp, 2^-1074. Half of
    that is no float64 number; the budget once rounded it to 0 and called the reference kernel
    infinitely wrong (a CI run: dv = 3.34196907e-315, exact 3.341969064e-315, budget 0)."""
    rng = np.random.default_rng(7)
    q = np.zeros((1, 1, 2, 4))
    q[..., 0] = 1.0
    k = rng.standard_normal((1, 1, 6, 4))
    k[..., 0] = [0.0, -1.0, -728.0, -729.5, -731.0, 0.5]  # scores with scale 1
    v = rng.standard_normal((1, 1, 6, 3))
    d_out = rng.standard_normal((1, 1, 2, 3))
    problem = GradientProblem.build(AttentionProblem.build(q, k, v, scale=1.0), d_out)
    exact = exact_gradients(problem).tensors()
    assert 0 < np.abs(exact["dv"][0, 0, 2:5]).max() < np.finfo(np.float64).tiny  # subnormal
    budget = gradient_budget(problem, PrecisionModel("float64", "float64", False))
    for t in TENSORS:
        assert np.all(budget.in_force(t) >= 2.0**-1074), t
    qt, kt, vt = (torch.tensor(x, requires_grad=True) for x in (q, k, v))
    out = torch.softmax(qt @ kt.transpose(-1, -2), dim=-1) @ vt
    got = torch.autograd.grad(out, (qt, kt, vt), torch.tensor(d_out))
    for t, g in zip(TENSORS, got):
        assert np.all(np.abs(g.numpy() - exact[t]) <= budget.in_force(t)), t
