"""Approximate kernels for the contract's certificate protocol (docs/kernel-contract.md,
"Approximate kernels"): an exact kernel whose output is moved by a known perturbation, declared
``"approximation": "certificate"``.

    honest_certificate       returns the perturbation's exact size per row as its certificate:
                             every property must hold (|out - exact| <= certificate + budget).
    certificate_half_size    the same output, a certificate half the perturbation's size: the
                             value properties must find it VIOLATED (error ~2x the certificate,
                             and the perturbation is far above the rounding budget).
    certificate_wrong_shape  a certificate of shape [B, Hq] instead of [B, Hq, Lq]: every call
                             is a malformed result, with the shape in the message.

The exact part is the reference dense kernel evaluated in float64 (inputs widened exactly), the
perturbation is added in float64 and the sum rounded once to the input dtype, so the kernel's
own rounding is that of an exact kernel (one final rounding) and the float64 addition's rounding
is counted in the certificate. Declared as a user would: a plain dict.
"""

from __future__ import annotations

import torch

from attnspec.kernels.attention.dense import make_dense_kernel

# Size of the perturbation relative to max |exact out| of the row: far above the rounding
# budget of every dtype (bfloat16's unit roundoff is 2^-8 = 0.0039), so that half of it as a
# certificate is caught, and small enough to leave out well inside the values' range.
AMPLITUDE = 0.1
U64 = 2.0**-53  # float64 unit roundoff: the perturbation is added in float64
UNIT_ROUNDOFF = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8, torch.float32: 2.0**-24,
                 torch.float64: U64}

DECLARATION = {
    "dtypes": ["float16", "bfloat16", "float32", "float64"],
    "causal": "bottom_right",
    "alibi": True,
    "mask": True,
    "gqa": True,
    "window": True,
    "softcap": True,
    "lse": True,
    "empty_rows": "zero",
    "approximation": "certificate",
}

_exact64 = make_dense_kernel(torch.float64)


def _perturbed(q, k, v, kwargs):
    """(out, lse or None, out certificate [B, Hq, Lq], lse certificate [B, Hq, Lq]): the exact
    attention plus a fixed pattern per row and value dim, and the pattern's exact row sizes."""
    wants_lse = bool(kwargs.pop("return_lse", False))
    out64, lse64 = _exact64(q.double(), k.double(), v.double(), return_lse=True, **kwargs)
    Lq, Dv = out64.shape[2:]
    rows = torch.isfinite(lse64)  # [B, Hq, Lq]: empty rows stay exactly 0 and -inf
    # The row's own size, max_d |exact out|: a scale that depends only on what the row sees
    # (a scale taken from all of v would let hidden keys reach the row: a future leak).
    size = out64.abs().amax(-1, keepdim=True)  # [B, Hq, Lq, 1]
    i = torch.arange(Lq, dtype=torch.float64, device=q.device)[:, None]
    d = torch.arange(Dv, dtype=torch.float64, device=q.device)[None, :]
    pattern = torch.cos(1.0 + 0.7 * i + 1.3 * d)  # [Lq, Dv], |pattern| <= 1
    delta = AMPLITUDE * size * pattern * rows[..., None]  # [B, Hq, Lq, Dv]
    delta_lse = AMPLITUDE * torch.cos(2.0 + i[:, 0]) * rows  # [B, Hq, Lq]
    out = (out64 + delta).to(q.dtype)
    lse = torch.where(rows, lse64 + delta_lse, lse64).to(torch.float32)
    # What the perturbation costs beyond itself, and so belongs in the certificate (the rounding
    # budget is sized from the exact values): the float64 sum errs by <= u64 (|out64| + |delta|),
    # and the final rounding of out64 + delta to the dtype by <= u (|out64| + |delta|), which can
    # exceed the budget's half ulp of the exact value when the sum crosses a binade, so all of it
    # is counted; the same for lse, rounded to float32.
    u = UNIT_ROUNDOFF[q.dtype]
    cert_out = (delta.abs() + (u + U64) * (out64.abs() + delta.abs())).amax(-1)  # [B, Hq, Lq]
    cert_lse = torch.where(rows, delta_lse.abs() + (2.0**-24 + U64) * (lse64.abs() + delta_lse.abs()),
                           torch.zeros_like(delta_lse))
    return out, (lse if wants_lse else None), cert_out * (1 + 4 * U64), cert_lse * (1 + 4 * U64)


def _result(out, lse, certificate, return_certificate):
    usual = (out,) if lse is None else (out, lse)
    if not return_certificate:
        return usual[0] if lse is None else usual
    return (*usual, certificate)


def honest_certificate(q, k, v, *, return_certificate=False, **kwargs):
    out, lse, cert_out, cert_lse = _perturbed(q, k, v, kwargs)
    certificate = {"out": cert_out.float(), "lse": cert_lse.float()} if lse is not None \
        else {"out": cert_out.float()}
    # float32 rounding of the bounds: rounded up by a relative 2^-23 margin
    certificate = {name: c * (1 + 2.0**-22) for name, c in certificate.items()}
    return _result(out, lse, certificate, return_certificate)


def certificate_half_size(q, k, v, *, return_certificate=False, **kwargs):
    out, lse, cert_out, cert_lse = _perturbed(q, k, v, kwargs)
    certificate = {"out": cert_out / 2, "lse": cert_lse / 2} if lse is not None \
        else {"out": cert_out / 2}
    return _result(out, lse, certificate, return_certificate)


def certificate_wrong_shape(q, k, v, *, return_certificate=False, **kwargs):
    out, lse, cert_out, cert_lse = _perturbed(q, k, v, kwargs)
    certificate = {"out": cert_out.amax(-1)}  # [B, Hq]: one bound per head, not per row
    if lse is not None:
        certificate["lse"] = cert_lse
    return _result(out, lse, certificate, return_certificate)


for _kernel in (honest_certificate, certificate_half_size, certificate_wrong_shape):
    _kernel.attnspec = dict(DECLARATION)
