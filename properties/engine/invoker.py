"""Call the kernel under test so that nothing it does can crash or hang the suite.

Each call runs on a daemon thread with a time limit. An exception, a timeout, or an output of
the wrong type, shape, dtype or device becomes a KernelFailure with a one-line reason; the
property that made the call reports it as a violation. A kernel that hangs once is not called
again (its thread may still be running), and every later property says so.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass

import torch

from attnspec.properties.attention.cases import AttentionCase
from attnspec.properties.loading import Subject


class KernelFailure(Exception):
    """The kernel raised, hung, or returned something malformed."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind  # "raised", "hung" or "malformed"
        self.message = message


@dataclass
class Call:
    out: torch.Tensor  # [B, Hq, Lq, Dv]
    lse: torch.Tensor | None  # [B, Hq, Lq]
    seconds: float


class Invoker:
    def __init__(self, subject: Subject, timeout_s: float = 60.0):
        self.subject = subject
        self.timeout_s = timeout_s
        self.hung_on: str | None = None  # description of the call that hung, once one has

    def __call__(self, case: AttentionCase) -> Call:
        if self.hung_on is not None:
            raise KernelFailure(
                "hung", f"not called: it hung for over {self.timeout_s:g} s earlier, on "
                f"{self.hung_on}")
        box: dict = {}

        def target():
            start = time.perf_counter()
            try:
                box["result"] = self.subject.fn(case.q, case.k, case.v, **case.kwargs)
                if case.q.device.type == "cuda":
                    torch.cuda.synchronize(case.q.device)  # surface asynchronous errors here
            except BaseException as error:  # noqa: BLE001 - the kernel's failure is the finding
                box["error"] = error
                box["trace"] = traceback.extract_tb(error.__traceback__)
            box["seconds"] = time.perf_counter() - start

        thread = threading.Thread(target=target, daemon=True, name="attnspec-kernel-call")
        thread.start()
        thread.join(self.timeout_s)
        if thread.is_alive():
            self.hung_on = case.recipe.describe()
            raise KernelFailure("hung", f"no result after {self.timeout_s:g} s")
        if "error" in box:
            error = box["error"]
            where = ""
            if box["trace"]:
                frame = box["trace"][-1]
                where = f" (at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})"
            raise KernelFailure("raised", f"{type(error).__name__}: {error}{where}".strip())
        out, lse = self._unpack(box["result"], case)
        return Call(out, lse, box["seconds"])

    def _unpack(self, result, case: AttentionCase):
        wants_lse = bool(case.kwargs.get("return_lse"))
        if wants_lse:
            if not (isinstance(result, (tuple, list)) and len(result) == 2):
                raise KernelFailure("malformed", f"return_lse=True but it returned "
                                                 f"{_kind(result)}, not (out, lse)")
            out, lse = result
        else:
            if isinstance(result, (tuple, list)):
                raise KernelFailure("malformed", f"returned a {type(result).__name__} of "
                                                 f"{len(result)} without return_lse; expected a tensor")
            out, lse = result, None
        q, v = case.q, case.v
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
        raise KernelFailure("malformed", f"{name} is {_kind(t)}, not a torch.Tensor")
    if tuple(t.shape) != tuple(shape):
        raise KernelFailure("malformed", f"{name} has shape {tuple(t.shape)}, expected "
                                         f"{tuple(shape)}")
    if dtype is not None and t.dtype != dtype:
        raise KernelFailure("malformed", f"{name} has dtype {t.dtype}, expected {dtype} "
                                         f"(the dtype of q)")
    if dtype is None and not t.dtype.is_floating_point:
        raise KernelFailure("malformed", f"{name} has dtype {t.dtype}, expected a float dtype")
    if t.device != device:
        raise KernelFailure("malformed", f"{name} is on {t.device}, expected {device} "
                                         f"(the device of q)")
