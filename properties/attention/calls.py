"""Call a kernel under the contract on one case, and check the form of what comes back.

The engine's invoker runs the call under a time limit; here the result is unpacked (a tensor,
or (out, lse) when return_lse=True) and its shape, dtype and device are checked against the
contract. Anything else becomes a SubjectFailure ("malformed") with a one-line reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from attnspec.properties.engine.invoker import Invoker, SubjectFailure


@dataclass
class Call:
    out: torch.Tensor  # [B, Hq, Lq, Dv]
    lse: torch.Tensor | None  # [B, Hq, Lq]
    seconds: float


def call_attention(invoker: Invoker, fn, q, k, v, kwargs: dict, description: str,
                   timeout_s: float) -> Call:
    """``fn(q, k, v, **kwargs)`` under the invoker within ``timeout_s`` (``description`` names
    the call if it hangs), its result checked for form."""
    def call():
        result = fn(q, k, v, **kwargs)
        if q.device.type == "cuda":
            torch.cuda.synchronize(q.device)  # surface asynchronous errors inside the call
        return result

    result, seconds = invoker(description, call, timeout_s)
    out, lse = _unpack(result, q, v, bool(kwargs.get("return_lse")))
    return Call(out, lse, seconds)


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
