"""Where the flows' attention comes from: the built-in dense reference, or a user's kernel.

A FlowSource gives the integrator (kernels/mean_field/flow.py) an attention callable of the
contract and says what it is: the dtype the kernel runs in (its widest declared), its device,
its per-call error bound, and whether it can drive a model (``unsupported``):

* every model needs scores beta <q, k>: through ``scale=beta``, or, for a kernel that declares no
  ``scale``, q multiplied by beta sqrt(D) (its default scale is 1/sqrt(D));
* the prompt model needs a boolean ``mask`` (token i sees its own prompt only);
* every USA flow needs the log-sum-exp (``lse``: Z_i = exp(lse_i));
* features are zero-padded to a head dim the kernel supports (scores unchanged), and values to
  D where it declares dv_equals_d.

A kernel's call goes through the subject's invoker (time limit, isolation); a raise, a hang, a
malformed or a non-finite result is a SourceFailure: a violation of the law that met it.

Per-call error bound [D]: a correct kernel's output row a_i (a convex combination of the values)
is within delta * max_j |v_j| of the exact average, with
delta = (Lk + D + 8) u_acc + (4 beta max|q||k| + 2 + [rounds P]) u_in, where u_in is the input
dtype's unit roundoff (the rounding of q, k, v and of the output, and of P where the kernel
declares it rounds P) and u_acc that of its accumulation (dot products of length D, sums of Lk
terms, exp and the division: the classical gamma_k bounds). Its lse is within the same delta.
"""

from __future__ import annotations

import math

import torch

from attnspec.kernels.mean_field import default_attention

from attnspec.properties.attention.calls import call_attention
from attnspec.properties.attention.cases import TORCH_DTYPES
from attnspec.properties.engine.invoker import SubjectFailure
from attnspec.properties.engine.law import SourceFailure

DTYPE_PREFERENCE = ("float64", "float32", "bfloat16", "float16")
UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24, "bfloat16": 2.0**-8, "float16": 2.0**-11}


class ReferenceSource:
    """The built-in dense reference kernel in float64 (the flows' default attention)."""

    is_kernel = False
    dtype = "float64"
    device = "cpu"
    accumulation = "float64"
    rounds_p = False

    def __init__(self, attention=None, name: str = "reference-dense (float64)", dtype: str = "float64",
                 accumulation: str | None = None):
        self._attention = attention or default_attention()
        self.name = name
        self.dtype = dtype
        self.accumulation = accumulation or dtype

    def unsupported(self, needs, plan) -> str | None:
        return None

    def attention(self, d_model: int):
        fn = self._attention

        def attend(q, k, v, **kw):
            result = fn(q, k, v, **kw)
            _finite(result)
            return result

        return attend

    @property
    def torch_dtype(self) -> torch.dtype:
        return TORCH_DTYPES[self.dtype]

    def delta(self, Lk: int, D: int, beta: float, qk_max: float) -> float:
        return per_call_delta(self.dtype, self.accumulation, self.rounds_p, Lk, D, beta, qk_max)


def per_call_delta(dtype: str, accumulation: str, rounds_p: bool, Lk: int, D: int, beta: float,
                   qk_max: float) -> float:
    """delta of the module docstring."""
    u_in, u_acc = UNIT_ROUNDOFF[dtype], UNIT_ROUNDOFF[accumulation]
    return (Lk + D + 8) * u_acc + (4 * beta * qk_max + 2 + (1 if rounds_p else 0)) * u_in


def _finite(result):
    for t in result if isinstance(result, (tuple, list)) else (result,):
        if not bool(torch.isfinite(t).all()):
            raise SourceFailure("the kernel returned a non-finite value on a flow's state")


class KernelFlowSource:
    """A user's kernel (a loading.Subject) driving the flows."""

    is_kernel = True

    def __init__(self, subject, *, dtype: str | None = None, timeout_s: float = 60.0):
        self.subject = subject
        spec = subject.spec
        self.dtype = dtype or next((t for t in DTYPE_PREFERENCE if t in spec.dtypes), spec.dtypes[0])
        self.device = "cpu" if "cpu" in subject.devices else (subject.devices[0] if subject.devices else None)
        self.accumulation = spec.accumulation_for(self.dtype)
        self.rounds_p = bool(spec.rounds_p_for(self.dtype))
        self.name = f"{subject.selector} ({self.dtype}, {self.device or 'no device'})"
        self.timeout_s = timeout_s
        self.calls = 0

    @property
    def torch_dtype(self) -> torch.dtype:
        return TORCH_DTYPES[self.dtype]

    def _fit(self, lo: int) -> int | None:
        spec = self.subject.spec
        hi = spec.max_head_dim or lo + 64 * spec.head_dim_multiple
        return next((D for D in range(lo, hi + 1) if spec.supports_head_dim(D)), None)

    def unsupported(self, needs, plan) -> str | None:
        spec = self.subject.spec
        if self.device is None:
            return f"none of the declared devices ({', '.join(spec.devices)}) is present here"
        if "mask" in needs and not spec.mask:
            return ("the prompt model lets token i see its own prompt only, through a boolean "
                    "mask; the kernel does not declare mask")
        if "lse" in needs and not spec.lse:
            return ("the USA flow moves at Z_i a_i / n with Z_i = exp(lse_i); the kernel does not "
                    "declare lse")
        widest = max((getattr(c, "head_dim", 4) for c in plan.cases), default=4)
        if self._fit(widest) is None:
            return (f"needs a head dim of at least {widest} (zero-padded); it declares "
                    f"head_dim_multiple={spec.head_dim_multiple}, max_head_dim={spec.max_head_dim}")
        return None

    def delta(self, Lk: int, D: int, beta: float, qk_max: float) -> float:
        return per_call_delta(self.dtype, self.accumulation, self.rounds_p, Lk, D, beta, qk_max)

    def attention(self, d_model: int):
        """The contract callable the integrator calls (its inputs arrive in self.dtype)."""
        spec, subject = self.subject.spec, self.subject
        device = torch.device(self.device)

        def attend(q, k, v, *, scale, mask=None, return_lse=False):
            D = self._fit(q.shape[-1])
            Dv = D if spec.dv_equals_d else v.shape[-1]
            back = q.device
            pad = lambda t, to: torch.nn.functional.pad(t, (0, to - t.shape[-1])).to(device)  # noqa: E731
            q, k, v = pad(q, D), pad(k, D), pad(v, Dv)
            kwargs = {}
            if spec.scale:
                kwargs["scale"] = float(scale)
            else:
                q = (q.to(torch.float64) * (float(scale) * math.sqrt(D))).to(q.dtype)
            if mask is not None:
                kwargs["mask"] = mask.to(device)
            if return_lse:
                kwargs["return_lse"] = True
            text = (f"a token flow's attention call: {q.shape[0]} runs of {q.shape[2]} tokens, "
                    f"{k.shape[2]} keys, head dim {D}, scale {float(scale):.6g}, {self.dtype}")
            self.calls += 1
            try:
                call = call_attention(subject.invoker, subject.fn, q, k, v, kwargs, text, self.timeout_s)
            except SubjectFailure as failure:
                raise SourceFailure(f"{failure.kind}: {failure.message} ({text})") from None
            out = call.out[..., :d_model].to(back)
            result = (out, call.lse.to(back)) if return_lse else out
            _finite(result)
            return result

        return attend
