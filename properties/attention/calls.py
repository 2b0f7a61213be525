"""Call a kernel under the contract on one case, and check the form of what comes back.

The engine's invoker runs the call under a time limit; here the result is unpacked (a tensor,
or (out, lse) when return_lse=True) and its shape, dtype and device are checked against the
contract. Anything else becomes a SubjectFailure ("malformed") with a one-line reason.

A kernel that declares ``"approximation": "certificate"`` is called with
``return_certificate=True`` and returns its usual result followed by a dict of per-row bounds
(docs/kernel-contract.md, "Approximate kernels"); its form is checked here too: "out" (and "lse"
when lse is returned) a floating tensor [B, Hq, Lq] on q's device, finite and >= 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from attnspec.properties.engine.invoker import Invoker, SubjectFailure


@dataclass
class Certificate:
    """An approximate kernel's own per-row bounds on |out - exact| (max over the value dims)
    and |lse - exact|, rounding not included, as float64."""

    out: np.ndarray  # [B, Hq, Lq]
    lse: np.ndarray | None  # [B, Hq, Lq], when lse was returned


@dataclass
class Call:
    out: torch.Tensor  # [B, Hq, Lq, Dv]
    lse: torch.Tensor | None  # [B, Hq, Lq]
    seconds: float
    certificate: Certificate | None = None  # only from a kernel that declares a certificate


def call_attention(invoker: Invoker, fn, q, k, v, kwargs: dict, description: str,
                   timeout_s: float, certificate: bool = False) -> Call:
    """``fn(q, k, v, **kwargs)`` under the invoker within ``timeout_s`` (``description`` names
    the call if it hangs), its result checked for form; with ``certificate`` the kernel is
    asked for its certificate (``return_certificate=True``), which comes back checked."""
    if certificate:
        kwargs = dict(kwargs, return_certificate=True)

    def call():
        result = fn(q, k, v, **kwargs)
        if q.device.type == "cuda":
            torch.cuda.synchronize(q.device)  # surface asynchronous errors inside the call
        return result

    result, seconds = invoker(description, call, timeout_s)
    wants_lse = bool(kwargs.get("return_lse"))
    bounds = None
    if certificate:
        result, bounds = _split_certificate(result, wants_lse)
    out, lse = _unpack(result, q, v, wants_lse)
    if certificate:
        bounds = _check_certificate(bounds, q, lse is not None)
    return Call(out, lse, seconds, bounds)


def _split_certificate(result, wants_lse: bool):
    """(the contract's result, the certificate dict) from what a certified call returned."""
    n = 3 if wants_lse else 2
    if not (isinstance(result, (tuple, list)) and len(result) == n):
        got = (f"a {type(result).__name__} of {len(result)}"
               if isinstance(result, (tuple, list)) else _kind(result))
        usual = "out, lse" if wants_lse else "out"
        raise SubjectFailure("malformed", f"return_certificate=True but it returned {got}, not "
                                          f"({usual}, certificate)")
    *usual, bounds = result
    return (tuple(usual) if wants_lse else usual[0]), bounds


def _check_certificate(bounds, q, has_lse: bool) -> Certificate:
    if not isinstance(bounds, dict):
        keys = "'out' and 'lse'" if has_lse else "'out'"
        raise SubjectFailure("malformed", f"the certificate is {_kind(bounds)}, not a dict of "
                                          f"{keys}, each [B, Hq, Lq]")
    needed = ("out", "lse") if has_lse else ("out",)
    missing = [name for name in needed if name not in bounds]
    if missing:
        raise SubjectFailure("malformed", f"the certificate lacks {', '.join(map(repr, missing))} "
                                          f"(it has {sorted(bounds)})")
    rows = tuple(q.shape[:3])
    checked = {}
    for name in needed:
        t = bounds[name]
        _check_tensor(f"certificate[{name!r}]", t, rows, None, q.device)
        values = t.detach().to("cpu", torch.float64).numpy()
        bad = ~(np.isfinite(values) & (values >= 0))
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise SubjectFailure("malformed", f"certificate[{name!r}]{list(index)} is "
                                              f"{values[index]!r}: a bound must be finite and >= 0")
        checked[name] = values
    return Certificate(checked["out"], checked.get("lse"))


def _unpack(result, q, v, wants_lse: bool):
    if wants_lse:
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise SubjectFailure("malformed", f"return_lse=True but it returned "
                                              f"{_kind(result)}, not (out, lse)")
        out, lse = result
    else:
        if isinstance(result, (tuple, list)):
            raise SubjectFailure("malformed", f"returned a {type(result).__name__} of "
                                              f"{len(result)} without return_lse; expected a tensor")
        out, lse = result, None
    expected = (q.shape[0], q.shape[1], q.shape[2], v.shape[3])
    _check_tensor("out", out, expected, q.dtype, q.device)
    if lse is not None:
        _check_tensor("lse", lse, expected[:3], None, q.device)
    return out, lse


def _kind(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {tuple(x.shape)}"
    return f"a {type(x).__name__}"


def _check_tensor(name, t, shape, dtype, device) -> None:
    if not isinstance(t, torch.Tensor):
        raise SubjectFailure("malformed", f"{name} is {_kind(t)}, not a torch.Tensor")
    if tuple(t.shape) != tuple(shape):
        raise SubjectFailure("malformed", f"{name} has shape {tuple(t.shape)}, expected "
                                          f"{tuple(shape)}")
    if dtype is not None and t.dtype != dtype:
        raise SubjectFailure("malformed", f"{name} has dtype {t.dtype}, expected {dtype} "
                                          f"(the dtype of q)")
    if dtype is None and not t.dtype.is_floating_point:
        raise SubjectFailure("malformed", f"{name} has dtype {t.dtype}, expected a float dtype")
    if t.device != device:
        raise SubjectFailure("malformed", f"{name} is on {t.device}, expected {device} "
                                          f"(the device of q)")


@dataclass
class GradientCall:
    out: torch.Tensor  # [B, Hq, Lq, Dv]
    lse: torch.Tensor | None  # [B, Hq, Lq]
    dq: torch.Tensor  # [B, Hq, Lq, D]
    dk: torch.Tensor  # [B, Hk, Lk, D]
    dv: torch.Tensor  # [B, Hk, Lk, Dv]
    d_lse: torch.Tensor | None  # the dlse fed to the kernel, in the lse's dtype
    seconds: float

    def gradients(self) -> dict[str, torch.Tensor]:
        return {"dq": self.dq, "dk": self.dk, "dv": self.dv}


def call_backward(invoker: Invoker, fn, q, k, v, kwargs: dict, d_out, d_lse, description: str,
                  timeout_s: float) -> GradientCall:
    """Forward and backward under the invoker (docs/kernel-contract.md "Gradients"):
    ``fn(q, k, v, **kwargs)`` on q, k, v made to require grad, then
    ``torch.autograd.grad`` of L = <dO, out> (+ <dlse, lse> when the kernel returns lse, dlse
    made a tensor of the lse's dtype from the float64 ``d_lse``). A gradient autograd finds
    unconnected counts as zeros (``materialize_grads``): the oracle then judges it."""
    def call():
        for t in (q, k, v):
            t.requires_grad_(True)
        result = fn(q, k, v, **kwargs)
        out, lse = _unpack(result, q, v, bool(kwargs.get("return_lse")))
        if not out.requires_grad:
            raise SubjectFailure("malformed", "the kernel declares backward, but its out is not "
                                              "attached to q, k, v by autograd")
        outputs, grads, fed = [out], [d_out], None
        if lse is not None and d_lse is not None:
            fed = torch.from_numpy(d_lse).to(dtype=lse.dtype, device=lse.device)
            if not lse.requires_grad:
                raise SubjectFailure("malformed", "the kernel declares backward and returns lse, "
                                                  "but its lse is not attached to q, k by "
                                                  "autograd: dlse cannot reach them")
            outputs.append(lse)
            grads.append(fed)
        dq, dk, dv = torch.autograd.grad(outputs, (q, k, v), grads, allow_unused=True,
                                         materialize_grads=True)
        if q.device.type == "cuda":
            torch.cuda.synchronize(q.device)
        return out, lse, dq, dk, dv, fed

    (out, lse, dq, dk, dv, fed), seconds = invoker(description, call, timeout_s)
    for name, grad, x in (("dq", dq, q), ("dk", dk, k), ("dv", dv, v)):
        _check_tensor(name, grad, tuple(x.shape), x.dtype, x.device)
    return GradientCall(out.detach(), None if lse is None else lse.detach(), dq, dk, dv, fed,
                        seconds)
