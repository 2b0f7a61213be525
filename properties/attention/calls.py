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
