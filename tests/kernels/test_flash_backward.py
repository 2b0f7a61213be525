"""The FlashAttention-2 style kernel's gradients against float64 autograd of a dense reference.

The reference below is written here (torch autograd through softmax(S) V in float64, empty
rows made safe by torch.where), independent of kernels/attention. Each case feeds the same
input values (those of the kernel's dtype, read exactly in float64) and the same dO and dlse
to both, and compares dq, dk, dv element by element against a first-order error bound derived
from the kernel's precision model (``gradient_error_bound``, derivation in its docstring).
"""

from __future__ import annotations

import math

import pytest
import torch

from attnspec.kernels.attention.flash_backward import (flash_backward_attention,
                                                       make_flash_backward_kernel)
from attnspec.kernels.spec import KernelSpec

DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
          "bfloat16": torch.bfloat16}
KERNEL = make_flash_backward_kernel(block_k=5, block_q=3)  # many tiles even on short rows


# ---------------------------------------------------------------------------------------------
# The float64 reference and the exact intermediate quantities


def _visible(Lq, Lk, causal, window, mask):
    """bool [.., Lq, Lk], True = may attend (bottom-right aligned causal and window)."""
    i = torch.arange(Lq)[:, None]
    j = torch.arange(Lk)[None, :]
    off = Lk - Lq
    vis = torch.ones(Lq, Lk, dtype=torch.bool)
    if causal:
        vis = vis & (j <= i + off)
    if window is not None:
        left, right = window
        if left is not None:
            vis = vis & (j >= i + off - left)
        if right is not None:
            vis = vis & (j <= i + off + right)
    if mask is not None:
        vis = vis & mask
    return vis


def reference(q, k, v, *, scale=None, causal=False, alibi_slopes=None, mask=None, window=None,
              softcap=None):
    """float64 out [B, Hq, Lq, Dv] and lse [B, Hq, Lq], differentiable by torch autograd, with
    no 0/0 or log 0 in the graph (rows with no visible key: out 0, lse -inf, gradients 0)."""
    Hq, Lq, D = q.shape[1:]
    Hk, Lk = k.shape[1], k.shape[2]
    kx = k.repeat_interleave(Hq // Hk, dim=1)  # [B, Hq, Lk, D]
    vx = v.repeat_interleave(Hq // Hk, dim=1)  # [B, Hq, Lk, Dv]
    sm = 1 / math.sqrt(D) if scale is None else scale
    s = (q @ kx.transpose(-1, -2)) * sm
    if softcap is not None:
        s = softcap * torch.tanh(s / softcap)
    if alibi_slopes is not None:
        i = torch.arange(Lq)[:, None]
        j = torch.arange(Lk)[None, :]
        s = s - alibi_slopes.to(torch.float64)[:, None, None] * (i + Lk - Lq - j).abs()
    s = s.masked_fill(~_visible(Lq, Lk, causal, window, mask), float("-inf"))
    m = s.amax(dim=-1, keepdim=True).detach()  # a constant shift: the softmax does not move
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(s - m)
    total = e.sum(dim=-1, keepdim=True)
    nonempty = total > 0
    safe = torch.where(nonempty, total, torch.ones_like(total))
    out = (e / safe) @ vx
    lse = torch.where(nonempty, m + torch.log(safe), torch.full_like(m, float("-inf")))
    return out, lse.squeeze(-1)


def exact_terms(q, k, v, d_out, d_lse, *, scale=None, causal=False, alibi_slopes=None,
                mask=None, window=None, softcap=None):
    """The contract's gradient formulas (docs/kernel-contract.md "Gradients") in float64, and
    the intermediate quantities the error bound needs. All tensors [B, Hq, ...] (kv expanded)."""
    B, Hq, Lq, D = q.shape
    Hk, Lk = k.shape[1], k.shape[2]
    G = Hq // Hk
    kx = k.repeat_interleave(G, dim=1)
    vx = v.repeat_interleave(G, dim=1)
    sm = 1 / math.sqrt(D) if scale is None else scale
    raw = (q @ kx.transpose(-1, -2)) * sm  # r
    t = torch.tanh(raw / softcap) if softcap is not None else None
    capped = softcap * t if softcap is not None else raw
    bias = torch.zeros(())
    if alibi_slopes is not None:
        i = torch.arange(Lq)[:, None]
        j = torch.arange(Lk)[None, :]
        bias = -alibi_slopes.to(torch.float64)[:, None, None] * (i + Lk - Lq - j).abs()
    vis = _visible(Lq, Lk, causal, window, mask).expand(B, Hq, Lq, Lk)
    s = (capped + bias).masked_fill(~vis, float("-inf"))
    m = s.amax(dim=-1, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(s - m)
    total = e.sum(dim=-1, keepdim=True)
    P = torch.where(total > 0, e / torch.where(total > 0, total, 1), 0)
    out = P @ vx
    dP = d_out @ vx.transpose(-1, -2)
    Dlt = (d_out * out).sum(-1) - (0 if d_lse is None else d_lse)
    dS = P * (dP - Dlt[..., None])
    dR = dS * (1 - t * t) if softcap is not None else dS
    dq = sm * dR @ kx
    dk = (sm * dR.transpose(-1, -2) @ q).view(B, Hk, G, Lk, D).sum(2)
    dv = (P.transpose(-1, -2) @ d_out).view(B, Hk, G, Lk, -1).sum(2)
    return dict(P=P, O=out, dP=dP, D=Dlt, dS=dS, dR=dR, t=t, raw=raw, capped=capped,
                bias=bias.expand_as(raw), vis=vis, kx=kx, vx=vx, scale=sm, G=G,
                dq=dq, dk=dk, dv=dv)


def gradient_error_bound(dtype, q, k, v, d_out, d_lse, softcap=None, **options):
    """Elementwise first-order bounds on |dq - dq_exact|, |dk - ...|, |dv - ...| for the
    kernel's precision model (module docstring of kernels/attention/flash_backward.py).

    u: unit roundoff of the input dtype (one rounding of P, of dS, of the output O);
    w: unit roundoff of the accumulation dtype (float32, or float64 for float64 inputs);
    eta: half the smallest subnormal of the input dtype (rounding of tiny P, dS entries).
    Standard bounds (Higham, Accuracy and Stability of Numerical Algorithms, 3.1): a dot product
    of n terms in precision w errs by at most ~n w sum |x_c y_c|.

      scores    |dr_ij| <= (D+2) w scale sum_c |q_ic k_jc|       (e_r; softcap is 1-Lipschitz)
                |ds_ij| <= e_r + 4 w (|c tanh| + |bias|)          (e_s)
      lse       |dlse_i| <= max_j e_s_ij + (Lk+4) w               (online sum, log)
      P         relative error e_p = e_s + e_lse + 2 w           (exp)
      O         |dO_i| <= sum_j P_ij |v_j| (u + e_p + (Lk+2) w) + u |O_i|   (P rounded, sum, cast)
      D         |dD_i| <= sum_c |dO_ic| |dO-error_ic| + (Dv+1) w (sum |dO O| + |dlse|)
      dP        |ddP_ij| <= Dv w sum_c |dO_ic v_jc|
      dS        |ddS| <= e_p P |dP - D| + P (|ddP| + |dD|) + 2 w |dS|
      softcap   dR = dS f, f = 1 - t^2, t = tanh(r / c) off by (1 - t^2) e_r / c + 2 w |t|:
                |df| <= 2 f e_r / c + 6 w (absolute: 1 - t t loses w t^2 when f is small),
                |ddR| <= f |ddS| + |dS| (2 f e_r / c + 6 w)
      rounding  dR to the input dtype: + u |dR| + eta
      dQ        scale (|ddR| |K| + (Lk+1) w |dR| |K|)
      dK        scale (|ddR|^T |Q| + (G Lq+1) w |dR|^T |Q|)       summed over the group
      dV        ((u + e_p + 2 w) P + eta)^T |dO| + (G Lq+1) w P^T |dO|   summed over the group
      cast      each result to the input dtype: + u |exact gradient|

    The reference's own float64 error has the same form with u = w = 2^-53; the test admits
    twice the bound (kernel error plus reference error, and first-order terms only)."""
    x = exact_terms(q, k, v, d_out, d_lse, softcap=softcap, **options)
    acc = torch.promote_types(dtype, torch.float32)
    u = torch.finfo(dtype).eps / 2
    w = torch.finfo(acc).eps / 2
    eta = torch.finfo(dtype).smallest_normal * torch.finfo(dtype).eps / 2
    B, _, Lq, D = q.shape
    Hk, Lk, Dv = k.shape[1], k.shape[2], v.shape[3]
    G, scale, P, vis = x["G"], x["scale"], x["P"], x["vis"]
    aq, akx, avx, ado = q.abs(), x["kx"].abs(), x["vx"].abs(), d_out.abs()

    e_r = (D + 2) * w * scale * (aq @ akx.transpose(-1, -2))
    e_s = e_r + 4 * w * (x["capped"].abs() + x["bias"].abs())
    e_lse = torch.where(vis, e_s, 0).amax(dim=-1) + (Lk + 4) * w
    e_p = e_s + e_lse[..., None] + 2 * w
    dO_err = (u + (Lk + 2) * w) * (P @ avx) + (P * e_p) @ avx + u * x["O"].abs()
    dlse_abs = 0 if d_lse is None else d_lse.abs()
    dD_err = (ado * dO_err).sum(-1) + (Dv + 1) * w * ((ado * x["O"].abs()).sum(-1) + dlse_abs)
    ddP = Dv * w * (ado @ avx.transpose(-1, -2))
    gap = (x["dP"] - x["D"][..., None]).abs()
    ddS = e_p * P * gap + P * (ddP + dD_err[..., None]) + 2 * w * x["dS"].abs()
    if softcap is not None:
        f = 1 - x["t"] ** 2
        ddR = f * ddS + x["dS"].abs() * (2 * f * e_r / softcap + 6 * w)
    else:
        ddR = ddS
    adR = x["dR"].abs()
    ddR = ddR + u * adR + eta * (P > 0)
    dq_err = scale * (ddR @ akx + (Lk + 1) * w * adR @ akx)
    dk_err = scale * (ddR.transpose(-1, -2) @ aq + (G * Lq + 1) * w * adR.transpose(-1, -2) @ aq)
    dv_err = ((u + e_p + 2 * w) * P + eta * (P > 0)).transpose(-1, -2) @ ado
    dv_err = dv_err + (G * Lq + 1) * w * P.transpose(-1, -2) @ ado
    dk_err = dk_err.view(B, Hk, G, Lk, D).sum(2)
    dv_err = dv_err.view(B, Hk, G, Lk, Dv).sum(2)
    bounds = {"dq": dq_err, "dk": dk_err, "dv": dv_err}
    return {name: err + u * x[name].abs() for name, err in bounds.items()}, x


# ---------------------------------------------------------------------------------------------
# Cases


def make_inputs(dtype, *, B=2, Hq=4, Hk=2, Lq=7, Lk=13, D=8, Dv=6, seed=0, magnitude=1.0,
                return_lse=False):
    g = torch.Generator().manual_seed(seed)
    q = (magnitude * torch.randn(B, Hq, Lq, D, generator=g, dtype=torch.float64)).to(dtype)
    k = (magnitude * torch.randn(B, Hk, Lk, D, generator=g, dtype=torch.float64)).to(dtype)
    v = torch.randn(B, Hk, Lk, Dv, generator=g, dtype=torch.float64).to(dtype)
    d_out = torch.randn(B, Hq, Lq, Dv, generator=g, dtype=torch.float64).to(dtype)
    lse_dtype = torch.promote_types(dtype, torch.float32)
    d_lse = (torch.randn(B, Hq, Lq, generator=g, dtype=torch.float64).to(lse_dtype)
             if return_lse else None)
    return q, k, v, d_out, d_lse


def _mask(shape, density, seed, empty_rows=()):
    g = torch.Generator().manual_seed(seed + 1)
    m = torch.rand(shape, generator=g) < density
    for index in empty_rows:
        m[index] = False
    return m


CASES = {
    "plain": dict(),
    "scale": dict(options=dict(scale=0.37)),
    "mha": dict(shape=dict(Hq=3, Hk=3)),
    "mqa": dict(shape=dict(Hq=4, Hk=1)),
    "causal_decode_like": dict(shape=dict(Lq=3, Lk=13), options=dict(causal=True)),
    "causal_more_queries": dict(shape=dict(Lq=13, Lk=6), options=dict(causal=True)),  # empty rows
    "alibi": dict(options=dict(alibi_slopes=torch.tensor([0.5, 0.25, 0.125, 0.0625]))),
    "mask_full": dict(options=dict(mask=_mask((2, 4, 7, 13), 0.6, 0, [(0, 1, 2), (1, 3, 6)]))),
    "mask_heads_broadcast": dict(options=dict(mask=_mask((2, 1, 7, 13), 0.5, 1))),
    "mask_keys_only": dict(options=dict(mask=_mask((13,), 0.5, 2))),
    "window": dict(options=dict(window=(3, 1))),
    "window_open_left": dict(options=dict(window=(None, 0))),
    "window_open_right": dict(options=dict(window=(2, None))),
    "softcap": dict(magnitude=2.0, options=dict(scale=1.3, softcap=4.0)),
    "lse": dict(return_lse=True),
    "lse_empty_rows": dict(return_lse=True, options=dict(
        causal=True, mask=_mask((2, 4, 7, 13), 0.7, 3, [(0, 0, 5)]))),
    "single_key": dict(shape=dict(Lk=1), return_lse=True),
    "single_query": dict(shape=dict(Lq=1), options=dict(causal=True)),
    "dv_differs": dict(shape=dict(D=5, Dv=11)),
    "everything": dict(return_lse=True, magnitude=1.5, options=dict(
        scale=0.9, causal=True, window=(6, 2), softcap=5.0,
        alibi_slopes=torch.tensor([0.3, 0.2, 0.1, 0.05]),
        mask=_mask((2, 1, 7, 13), 0.8, 4, [(1, 0, 3)]))),
}


def run_case(name, dtype_name, kernel=KERNEL):
    spec = CASES[name]
    dtype = DTYPES[dtype_name]
    return_lse = spec.get("return_lse", False)
    q, k, v, d_out, d_lse = make_inputs(dtype, magnitude=spec.get("magnitude", 1.0),
                                        return_lse=return_lse, **spec.get("shape", {}))
    options = dict(spec.get("options", {}))
    # kernel
    qk = [t.clone().requires_grad_(True) for t in (q, k, v)]
    result = kernel(*qk, return_lse=return_lse, **options)
    outputs, grads = ([result[0], result[1]], [d_out, d_lse]) if return_lse else ([result], [d_out])
    got = torch.autograd.grad(outputs, qk, grads)
    # float64 autograd reference on the same values
    q64, k64, v64 = [t.to(torch.float64).requires_grad_(True) for t in (q, k, v)]
    opts64 = {**options}
    out64, lse64 = reference(q64, k64, v64, **opts64)
    ref_outputs, ref_grads = [out64], [d_out.to(torch.float64)]
    if return_lse:
        ref_outputs.append(lse64)
        ref_grads.append(d_lse.to(torch.float64))
    want = torch.autograd.grad(ref_outputs, (q64, k64, v64), ref_grads)
    bound, terms = gradient_error_bound(dtype, q64.detach(), k64.detach(), v64.detach(),
                                        d_out.to(torch.float64),
                                        None if d_lse is None else d_lse.to(torch.float64),
                                        **options)
    return dict(zip(("dq", "dk", "dv"), got)), dict(zip(("dq", "dk", "dv"), want)), bound, terms


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("case", list(CASES))
def test_gradients_match_float64_autograd_within_the_derived_bound(case, dtype):
    got, want, bound, _ = run_case(case, dtype)
    for name in ("dq", "dk", "dv"):
        g = got[name]
        assert g.dtype == DTYPES[dtype] and g.shape == want[name].shape
        assert torch.isfinite(g).all(), f"{name} has non-finite entries"
        err = (g.to(torch.float64) - want[name]).abs()
        allowed = 2 * bound[name]
        ratio = (err / allowed.clamp_min(1e-300)).max().item()
        assert (err <= allowed).all(), (
            f"{name}: worst error / bound = {ratio:.3g} (max error {err.max().item():.3g})")


def test_the_bound_is_not_vacuous():
    """The bound is a few rounding units of the gradients' scale (float16: under 16 u of the
    largest gradient; float32: under 1000 w, the worst-case n w of its sums), and a missing
    D = rowsum(dO o O) term (a real bug) exceeds it by orders of magnitude."""
    for dtype, limit in (("float16", 16 * 2.0**-11), ("float32", 1000 * 2.0**-24)):
        _, want, bound, _ = run_case("plain", dtype)
        for name in ("dq", "dk", "dv"):
            assert bound[name].max() <= limit * want[name].abs().max(), (dtype, name)
    _, want, bound, terms = run_case("plain", "float16")
    wrong_dq = terms["scale"] * (terms["P"] * terms["dP"]) @ terms["kx"]  # dS without -D
    assert ((wrong_dq - want["dq"]).abs() > 100 * 2 * bound["dq"]).any()


def test_contract_formulas_equal_torch_autograd_in_float64():
    """The docstring's formulas (dV = P^T dO, dS = P o (dP - D), dR, dQ, dK, GQA sums) and
    torch autograd of the float64 reference agree to float64 rounding, empty rows included."""
    for case in ("everything", "lse_empty_rows", "causal_more_queries", "mqa", "single_key"):
        _, want, _, terms = run_case(case, "float64")
        for name in ("dq", "dk", "dv"):
            scale = want[name].abs().max().item() + 1
            assert (terms[name] - want[name]).abs().max().item() <= 1e-12 * scale, (case, name)


# ---------------------------------------------------------------------------------------------
# gradcheck, hygiene, determinism, declaration


def test_gradcheck_float64_tiny():
    kernel = make_flash_backward_kernel(block_k=2, block_q=2)
    q, k, v, _, _ = make_inputs(torch.float64, B=1, Hq=2, Hk=1, Lq=3, Lk=5, D=3, Dv=2, seed=7)
    slopes = torch.tensor([0.3, 0.1], dtype=torch.float64)
    inputs = [t.clone().requires_grad_(True) for t in (q, k, v)]

    def f(q, k, v):  # out and lse, every row non-empty (lse is finite)
        return kernel(q, k, v, scale=0.8, causal=True, alibi_slopes=slopes, window=(3, 0),
                      softcap=2.5, return_lse=True)

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-8, rtol=1e-6)


def test_gradcheck_float64_with_an_empty_row():
    kernel = make_flash_backward_kernel(block_k=2, block_q=2)
    q, k, v, _, _ = make_inputs(torch.float64, B=1, Hq=2, Hk=2, Lq=4, Lk=3, D=3, Dv=2, seed=8)
    mask = torch.ones(1, 2, 4, 3, dtype=torch.bool)
    mask[0, 1, 2] = False  # head 1, query 2 sees no key: out 0, gradients 0
    inputs = [t.clone().requires_grad_(True) for t in (q, k, v)]
    assert torch.autograd.gradcheck(lambda q, k, v: kernel(q, k, v, mask=mask), inputs,
                                    eps=1e-6, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_inputs_and_incoming_gradients_are_left_unchanged(dtype):
    q, k, v, d_out, d_lse = make_inputs(DTYPES[dtype], return_lse=True, seed=3)
    # non-contiguous views with storage offsets, as the contract allows
    q = q.transpose(1, 2).contiguous().transpose(1, 2)
    d_out = d_out.transpose(-1, -2).contiguous().transpose(-1, -2)
    mask = _mask((2, 4, 7, 13), 0.7, 5, [(0, 2, 1)])
    slopes = torch.tensor([0.4, 0.3, 0.2, 0.1])
    before = [t.clone() for t in (q, k, v, d_out, d_lse, mask, slopes)]
    leaves = [t.requires_grad_(True) for t in (q, k, v)]
    out, lse = KERNEL(*leaves, causal=True, alibi_slopes=slopes, mask=mask, softcap=3.0,
                      return_lse=True)
    torch.autograd.grad((out, lse), leaves, (d_out, d_lse))
    for now, then in zip((q, k, v, d_out, d_lse, mask, slopes), before):
        assert torch.equal(now.detach(), then)


def test_two_backward_calls_agree_bitwise():
    q, k, v, d_out, d_lse = make_inputs(torch.float32, return_lse=True, seed=4)
    results = []
    for _ in range(2):
        leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
        out, lse = KERNEL(*leaves, causal=True, return_lse=True)
        results.append(torch.autograd.grad((out, lse), leaves, (d_out, d_lse)))
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_unused_lse_and_inputs_without_grad():
    q, k, v, d_out, _ = make_inputs(torch.float32, seed=5)
    k_leaf = k.clone().requires_grad_(True)
    out, lse = KERNEL(q, k_leaf, v, return_lse=True)  # only k requires grad; lse unused
    (dk,) = torch.autograd.grad(out, (k_leaf,), d_out)
    q64, k64, v64 = (t.to(torch.float64) for t in (q, k, v))
    k64.requires_grad_(True)
    (want,) = torch.autograd.grad(reference(q64, k64, v64)[0], (k64,), d_out.double())
    assert torch.allclose(dk.double(), want, rtol=1e-4, atol=1e-5)


def test_declaration():
    spec = KernelSpec.from_declaration(flash_backward_attention.attnspec)
    assert spec.backward and spec.lse and spec.gqa and spec.softcap and spec.window
    assert spec.causal == "bottom_right" and spec.rounds_p is True
    assert set(spec.dtypes) == {"float16", "bfloat16", "float32", "float64"}
    assert set(spec.devices) == {"cpu", "cuda"}
    out = flash_backward_attention(*make_inputs(torch.float32)[:3])
    assert out.shape == (2, 4, 7, 6) and out.dtype == torch.float32
