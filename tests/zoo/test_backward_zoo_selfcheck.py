"""Each bug of the backward zoo is real, and each control is correct, without attnspec's
properties: on one fixed, seeded input per buggy kernel (with the options its bug needs), the
kernel's gradients differ from float64 autograd of the dense reference below by far more than
rounding, or are NaN, or change between two identical calls, or the call writes into q, k, v or
dO; every control (CONTROLS_BACKWARD) on the same input does none of these. And each bug is the
only one: on an input that does not exercise it, the buggy kernel's gradients are right.

"Far more than rounding": max |g - g_exact| > 1e-3 max |g_exact| for some gradient g in
float32 (rounding gives ~1e-6); for the bfloat16 accumulation bug, an error more than 8 times
that of the correct kernels on the same bfloat16 input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from attnspec.properties.loading import import_file

ZOO = import_file(str(Path(__file__).with_name("buggy_backward_kernels.py")))
NAMES = ("dq", "dk", "dv")


# ---------------------------------------------------------------------------------------------
# float64 reference (torch autograd), independent of the zoo's code


def reference(q, k, v, *, scale=None, causal=False, alibi_slopes=None, mask=None, window=None,
              softcap=None):
    """out [B, Hq, Lq, Dv], lse [B, Hq, Lq] in float64; empty rows: 0, -inf, no NaN."""
    B, Hq, Lq, D = q.shape
    Hk, Lk = k.shape[1], k.shape[2]
    kx, vx = (t.repeat_interleave(Hq // Hk, dim=1) for t in (k, v))
    s = q @ kx.transpose(-1, -2) * (1 / math.sqrt(D) if scale is None else scale)
    if softcap is not None:
        s = softcap * torch.tanh(s / softcap)
    i, j = torch.arange(Lq)[:, None], torch.arange(Lk)[None, :]
    off = Lk - Lq
    if alibi_slopes is not None:
        s = s - alibi_slopes.double()[:, None, None] * (i + off - j).abs()
    vis = torch.ones(Lq, Lk, dtype=torch.bool)
    if causal:
        vis = vis & (j <= i + off)
    if window is not None:
        if window[0] is not None:
            vis = vis & (j >= i + off - window[0])
        if window[1] is not None:
            vis = vis & (j <= i + off + window[1])
    if mask is not None:
        vis = vis & mask
    s = s.masked_fill(~vis, float("-inf"))
    m = s.amax(-1, keepdim=True).detach()
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(s - m)
    total = e.sum(-1, keepdim=True)
    safe = torch.where(total > 0, total, torch.ones_like(total))
    lse = torch.where(total > 0, m + torch.log(safe), torch.full_like(m, float("-inf")))
    return (e / safe) @ vx, lse.squeeze(-1)


# ---------------------------------------------------------------------------------------------
# Cases


@dataclass
class Case:
    check: str  # "wrong", "nan", "nondeterministic", "mutates", "wrong_vs_controls"
    dtype: torch.dtype = torch.float32
    shape: dict = field(default_factory=dict)  # B, Hq, Hk, Lq, Lk, D, Dv
    options: dict = field(default_factory=dict)
    return_lse: bool = False
    dout_layout: str = "contiguous"  # or "transposed": a [.., Dv, Lq] buffer transposed
    structured: bool = False  # long rows with correlated keys (see make_inputs)
    orthogonal_dout: bool = False  # each row of dO orthogonal to that row of O: D_i = 0


def make_inputs(case: Case, seed=0):
    shape = dict(B=2, Hq=4, Hk=2, Lq=6, Lk=21, D=8, Dv=8) | case.shape
    B, Hq, Hk, Lq, Lk, D, Dv = (shape[n] for n in ("B", "Hq", "Hk", "Lq", "Lk", "D", "Dv"))
    g = torch.Generator().manual_seed(seed)

    def randn(*size):
        return torch.randn(*size, generator=g, dtype=torch.float64)

    q, k, v = randn(B, Hq, Lq, D), randn(B, Hk, Lk, D), randn(B, Hk, Lk, Dv)
    if case.options.get("softcap") is not None:
        q, k = 2 * q, 2 * k  # logits well past the cap
    if case.structured:
        # Keys share a common direction and values drift with position: the partial sums of
        # dQ over key tiles grow large before they cancel, where a low-precision accumulator
        # loses most.
        k = k + 3.0
        v = v + torch.linspace(-4, 4, Lk, dtype=torch.float64)[:, None]
    d_out = randn(B, Hq, Lq, Dv)
    d_lse = randn(B, Hq, Lq) if case.return_lse else None
    q, k, v = (t.to(case.dtype) for t in (q, k, v))
    if case.orthogonal_dout:
        out, _ = reference(*(t.to(torch.float64) for t in (q, k, v)), **case.options)
        norm2 = (out * out).sum(-1, keepdim=True).clamp_min(1e-300)
        d_out = d_out - (d_out * out).sum(-1, keepdim=True) / norm2 * out
    d_out = d_out.to(case.dtype)
    if case.dout_layout == "transposed":
        d_out = d_out.transpose(-1, -2).contiguous().transpose(-1, -2)
    if d_lse is not None:
        d_lse = d_lse.to(torch.promote_types(case.dtype, torch.float32))
    return q, k, v, d_out, d_lse


def run(kernel, case: Case, seed=0):
    """The kernel's gradients, and whether the call wrote into q, k, v or dO."""
    q, k, v, d_out, d_lse = make_inputs(case, seed)
    before = [t.clone() for t in (q, k, v, d_out)]
    leaves = [t.requires_grad_(True) for t in (q, k, v)]
    result = kernel(*leaves, return_lse=case.return_lse, **case.options)
    if case.return_lse:
        grads = torch.autograd.grad(result, leaves, (d_out, d_lse))
    else:
        grads = torch.autograd.grad(result, leaves, d_out)
    mutated = any(not torch.equal(now.detach(), then)
                  for now, then in zip((q, k, v, d_out), before))
    return dict(zip(NAMES, grads)), mutated


def exact(case: Case, seed=0):
    q, k, v, d_out, d_lse = make_inputs(case, seed)
    leaves = [t.to(torch.float64).requires_grad_(True) for t in (q, k, v)]
    out, lse = reference(*leaves, **case.options)
    outputs, grads = [out], [d_out.to(torch.float64)]
    if case.return_lse:
        outputs.append(lse)
        grads.append(d_lse.to(torch.float64))
    return dict(zip(NAMES, torch.autograd.grad(outputs, leaves, grads)))


def relative_error(got, want) -> float:
    """max over dq, dk, dv of max |g - g_exact| / max |g_exact| (inf if any g is NaN)."""
    worst = 0.0
    for name in NAMES:
        g = got[name].to(torch.float64)
        if not torch.isfinite(g).all():
            return math.inf
        worst = max(worst, ((g - want[name]).abs().max() / want[name].abs().max()).item())
    return worst


def _mask_with_empty_row():
    m = torch.rand(2, 4, 6, 21, generator=torch.Generator().manual_seed(3)) < 0.7
    m[1, 2, 4] = False
    return m


CASES = {
    "delta_term_missing": Case("wrong"),
    "lse_gradient_ignored": Case("wrong", return_lse=True),
    "unnormalised_p_in_backward": Case("wrong"),
    "nan_grad_on_empty_rows": Case("nan", options=dict(mask=_mask_with_empty_row())),
    "dk_missing_scale": Case("wrong"),
    "softcap_backward_missing_dtanh": Case("wrong", options=dict(softcap=3.0)),
    "alibi_missing_in_backward": Case(
        "wrong", options=dict(alibi_slopes=torch.tensor([0.5, 0.25, 0.125, 0.0625]))),
    "causal_top_left_in_backward": Case("wrong", options=dict(causal=True)),
    "window_off_by_one_in_backward": Case("wrong", options=dict(window=(4, 2))),
    "backward_mask_ignores_heads": Case("wrong", options=dict(
        mask=torch.rand(2, 4, 6, 21, generator=torch.Generator().manual_seed(4)) < 0.6)),
    "short_rows_read_past_the_tile": Case("nan", shape=dict(Lk=1)),
    "gqa_dkdv_last_head_wins": Case("wrong"),
    "dq_accumulated_in_half": Case("wrong_vs_controls", dtype=torch.bfloat16, structured=True,
                                   shape=dict(B=1, Hq=2, Hk=1, Lq=8, Lk=1024, D=16, Dv=16)),
    "nondeterministic_dq_declared_deterministic": Case("nondeterministic"),
    "writes_into_grad_output": Case("mutates"),
    "assumes_contiguous_grad_output": Case("wrong", dout_layout="transposed"),
}


# Inputs on which each bug has no effect: the buggy kernel must then be right (one bug only).
NEUTRAL = {
    "delta_term_missing": Case("right", orthogonal_dout=True),
    "lse_gradient_ignored": Case("right"),
    "unnormalised_p_in_backward": Case("right", shape=dict(Lk=1)),  # l = 1
    "nan_grad_on_empty_rows": Case("right", options=dict(causal=True)),  # Lq < Lk: none empty
    "dk_missing_scale": Case("right", options=dict(scale=1.0)),
    "softcap_backward_missing_dtanh": Case("right"),
    "alibi_missing_in_backward": Case("right", return_lse=True),
    "causal_top_left_in_backward": Case("right", shape=dict(Lq=21), options=dict(causal=True)),
    "window_off_by_one_in_backward": Case("right", options=dict(window=(None, 2))),
    "backward_mask_ignores_heads": Case("right", options=dict(
        mask=torch.rand(2, 1, 6, 21, generator=torch.Generator().manual_seed(5)) < 0.6)),
    "short_rows_read_past_the_tile": Case("right", shape=dict(Lk=16)),
    "gqa_dkdv_last_head_wins": Case("right", shape=dict(Hq=3, Hk=3)),
    "dq_accumulated_in_half": Case("right_vs_controls", dtype=torch.bfloat16,
                                   shape=dict(Lk=16)),  # one tile: one rounding, as the cast
    "nondeterministic_dq_declared_deterministic": Case("right", return_lse=True),
    "writes_into_grad_output": Case("right", return_lse=True, options=dict(
        mask=_mask_with_empty_row())),
    "assumes_contiguous_grad_output": Case("right"),
}


@pytest.mark.parametrize("name", list(NEUTRAL))
def test_each_bug_is_the_only_one(name):
    case = NEUTRAL[name]
    want = exact(case)
    got, _ = run(getattr(ZOO, name), case)
    error = relative_error(got, want)
    if case.check == "right":
        assert error < 1e-5, f"{name}: relative error {error:.3g} where its bug has no effect"
    else:
        controls = max(relative_error(run(c, case)[0], want) for c in ZOO.CONTROLS_BACKWARD)
        assert error <= 2 * controls, (name, error, controls)


def verdict(kernel, case: Case, want, control_error=None) -> str | None:
    """Which check fires on ``kernel`` (None: none)."""
    got, mutated = run(kernel, case)
    if case.check == "mutates":
        return "mutates" if mutated else None
    if case.check == "nondeterministic":
        for _ in range(4):  # a random order repeats with small probability; ask a few times
            again, _ = run(kernel, case)
            if any(not torch.equal(got[n], again[n]) for n in NAMES):
                return "nondeterministic"
        return None
    if case.check == "nan":
        return "nan" if any(torch.isnan(got[n]).any() for n in NAMES) else None
    error = relative_error(got, want)
    if case.check == "wrong":
        return f"wrong ({error:.3g})" if error > 1e-3 else None
    assert case.check == "wrong_vs_controls"
    return f"wrong ({error:.3g} vs {control_error:.3g})" if error > 8 * control_error else None


def test_every_buggy_kernel_has_a_case():
    assert sorted(CASES) == sorted(NEUTRAL) == sorted(
        fn.__name__ for fn in ZOO.BACKWARD_ZOO + ZOO.BACKWARD_LONG_ROW_ZOO)


@pytest.mark.parametrize("name", list(CASES))
def test_the_bug_is_real_and_the_controls_pass(name):
    case = CASES[name]
    want = exact(case)
    control_errors = []
    for control in ZOO.CONTROLS_BACKWARD:
        got, mutated = run(control, case)
        assert not mutated, f"{control.__name__} wrote into an input"
        assert all(torch.isfinite(got[n]).all() for n in NAMES), control.__name__
        control_errors.append(relative_error(got, want))
        if case.dtype == torch.float32:
            assert control_errors[-1] < 1e-5, (control.__name__, control_errors[-1])
        assert verdict(control, case, want, control_errors[-1]) is None, control.__name__
    found = verdict(getattr(ZOO, name), case, want, max(control_errors))
    assert found is not None, f"{name}: no check fires on its case"


def test_declarations():
    from attnspec.kernels.spec import KernelSpec

    for fn in ZOO.BACKWARD_ZOO + ZOO.BACKWARD_LONG_ROW_ZOO + ZOO.CONTROLS_BACKWARD:
        spec = KernelSpec.from_declaration(fn.attnspec)
        assert spec.backward and spec.deterministic, fn.__name__
        doc = " ".join((fn.__doc__ or "").split())
        assert doc and ("Caught by" in doc or fn in ZOO.CONTROLS_BACKWARD), fn.__name__
