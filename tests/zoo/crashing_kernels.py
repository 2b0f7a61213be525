"""TEST-ONLY kernels that kill their own process on one code path: never run them in-process.

Each is a correct dense attention kernel except on decode rows (Lq == 1), where it dies the way
native kernels die: a null dereference (SIGSEGV), a failed assertion in C (SIGABRT), the
out-of-memory killer (SIGKILL), or ``exit()`` from native code (``os._exit``). Checked under
process isolation (properties/engine/isolation.py), each death is a "crashed" violation naming
the signal, with its case shrunk to a decode row; tests/properties/test_isolation.py holds the
suite to that.
"""

from __future__ import annotations

import ctypes
import os
import signal

import torch

DECLARATION = {"dtypes": ["float32"], "scale": True, "lse": True}


def _dense(q, k, v, *, scale=None, return_lse=False):
    """Exact-enough attention in float64, rounded once to q's dtype."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    scores = (q.double() @ k.double().transpose(-1, -2)) * scale
    lse = torch.logsumexp(scores, dim=-1)
    out = (torch.exp(scores - lse[..., None]) @ v.double()).to(q.dtype)
    return (out, lse.to(q.dtype)) if return_lse else out


def segfaults_on_decode_rows(q, k, v, **kw):
    """Reads address 0 on decode rows (a null pointer on the Lq == 1 path): SIGSEGV."""
    if q.shape[2] == 1:
        ctypes.string_at(0)
    return _dense(q, k, v, **kw)


def aborts_on_decode_rows(q, k, v, **kw):
    """Calls abort() on decode rows (a failed C assertion): SIGABRT."""
    if q.shape[2] == 1:
        os.abort()
    return _dense(q, k, v, **kw)


def killed_on_decode_rows(q, k, v, **kw):
    """Is killed with SIGKILL on decode rows, as the out-of-memory killer would kill it."""
    if q.shape[2] == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return _dense(q, k, v, **kw)


def exits_on_decode_rows(q, k, v, **kw):
    """Ends its process with status 3 on decode rows (exit() from native code)."""
    if q.shape[2] == 1:
        os._exit(3)
    return _dense(q, k, v, **kw)


for _kernel in (segfaults_on_decode_rows, aborts_on_decode_rows, killed_on_decode_rows,
                exits_on_decode_rows):
    _kernel.attnspec = dict(DECLARATION)
