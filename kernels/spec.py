"""A kernel's declaration of what it supports: the contract's capability dict, typed.

A kernel needs no import of attnspec: a plain dict attribute ``fn.attnspec`` declares its
capabilities (docs/kernel-contract.md, "Declaring capabilities"). KernelSpec is the same
declaration as a typed, validated object; ``KernelSpec(...)(fn)`` and :func:`attnspec_kernel`
attach it as that dict.

Beyond the contract's keys, two optional keys describe the kernel's precision model, from which
the error budget is derived (docs/error-budget.md):

    "accumulation": "float32"   dtype of scores, softmax and sums (default: float32, or the
                                input dtype when that is wider)
    "rounds_p": True            P is rounded to the input dtype before P @ V, as
                                FlashAttention-2 does (default: True for fp16/bf16 inputs, the
                                lenient choice; declare False to be held to the tighter budget)

and "scale" (default True: the kernel accepts ``scale=``), "deterministic" (default True),
"deterministic_backward" (default True; False for a backward that accumulates with atomics, as
FlashAttention's dQ does: then two backward calls may differ in their last bits),
"backward_devices" (default: every declared device; e.g. ["cuda"] for FlexAttention, whose
backward does not run on CPU),
"head_dim_multiple" (default 1) and "max_head_dim" (default None: no limit) for kernels that
support only some head dims (both D and Dv), "dv_equals_d" (default False) for kernels that
need Dv == D, and "restrictions" (default none) for combinations of declared options the kernel
does not support, from RESTRICTIONS below (e.g. ["causal_needs_equal_lengths"] for a kernel whose
causal path needs Lq == Lk): those are never drawn, and the report says so; and
"compiled_per_shape" (default False) for a kernel that compiles for each new input shape
(torch.compile, jax.jit, Triton autotuning): its cases then take their shapes from a short
list that keeps the tile edges (properties/attention/strategies.py, EDGE_SHAPES).

A kernel that computes attention approximately declares how it says how far off it may be:

    "approximation": "certificate"   called with ``return_certificate=True`` (besides the
                                contract's keywords), the kernel returns one more element after
                                its usual result: a dict {"out": [B, Hq, Lq], "lse": [B, Hq, Lq]
                                (when lse is returned)} of per-row bounds on what the
                                approximation alone may move out (max over the value dims) and
                                lse from their exact values; attnspec then holds |out - exact|
                                to that bound plus the rounding budget (docs/kernel-contract.md,
                                "Approximate kernels"). Absent (None): the kernel is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable

DTYPES = ("float16", "bfloat16", "float32", "float64")
DEVICES = ("cpu", "cuda")
CAUSAL = ("bottom_right", "top_left")
EMPTY_ROWS = ("zero", "nan")
LAYOUTS = ("bhld", "blhd")
APPROXIMATIONS = ("certificate",)
FEATURES = ("alibi", "mask", "gqa", "window", "softcap", "lse", "backward", "scale", "deterministic",
            "deterministic_backward", "dv_equals_d", "compiled_per_shape")
# The contract's keyword options, in one order, each with the capability that declares it.
KEYWORD_CAPABILITY = {"causal": "causal", "alibi_slopes": "alibi", "mask": "mask",
                      "window": "window", "softcap": "softcap", "scale": "scale",
                      "return_lse": "lse"}
# The keywords that decide which keys are visible or what the scores are (all but scale and lse).
SCORE_KEYWORDS = tuple(k for k in KEYWORD_CAPABILITY if k not in ("scale", "return_lse"))


# Combinations of options a kernel may declare it does not support (``"restrictions": [...]``),
# as real libraries have them; attnspec then never draws them and says so in the report.
RESTRICTIONS = {
    "causal_needs_equal_lengths": "causal only when Lq == Lk",
    "window_needs_equal_lengths": "a window only when Lq == Lk",
    "mask_excludes_causal": "a mask and causal never together",
    "mask_excludes_alibi": "a mask and ALiBi never together",
}


class SpecError(ValueError):
    """An invalid capability declaration; the message is one line a user can act on."""


@dataclass(frozen=True)
class KernelSpec:
    dtypes: tuple[str, ...]
    devices: tuple[str, ...] = ("cpu",)
    causal: str | None = None
    alibi: bool = False
    mask: bool = False
    gqa: bool = False
    window: bool = False
    softcap: bool = False
    lse: bool = False
    backward: bool = False
    scale: bool = True
    deterministic: bool = True
    deterministic_backward: bool = True
    backward_devices: tuple[str, ...] | None = None
    empty_rows: str = "zero"
    layout: str = "bhld"
    accumulation: str | None = None
    rounds_p: bool | None = None
    head_dim_multiple: int = 1
    max_head_dim: int | None = None
    dv_equals_d: bool = False
    compiled_per_shape: bool = False
    approximation: str | None = None
    restrictions: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "dtypes", _names("dtypes", self.dtypes, DTYPES))
        object.__setattr__(self, "devices", _names("devices", self.devices, DEVICES))
        if not self.dtypes:
            raise SpecError("'dtypes' must name at least one of " + ", ".join(DTYPES))
        if not self.devices:
            raise SpecError("'devices' must name at least one of " + ", ".join(DEVICES))
        if self.backward_devices is not None:
            names = _names("backward_devices", self.backward_devices, DEVICES)
            stray = [d for d in names if d not in self.devices]
            if stray:
                raise SpecError(f"'backward_devices' names {stray}, not among the declared "
                                f"'devices' {list(self.devices)}")
            object.__setattr__(self, "backward_devices", names)
        if self.causal not in (None,) + CAUSAL:
            raise SpecError(
                f"'causal' must be 'bottom_right', 'top_left' or False, got {self.causal!r}"
            )
        for name in FEATURES:
            if not isinstance(getattr(self, name), bool):
                raise SpecError(f"'{name}' must be True or False, got {getattr(self, name)!r}")
        if self.empty_rows not in EMPTY_ROWS:
            raise SpecError(f"'empty_rows' must be 'zero' or 'nan', got {self.empty_rows!r}")
        if self.approximation is not None and self.approximation not in APPROXIMATIONS:
            raise SpecError(f"'approximation' must be 'certificate' (or absent for an exact "
                            f"kernel), got {self.approximation!r}")
        object.__setattr__(self, "restrictions",
                           _names("restrictions", self.restrictions, tuple(RESTRICTIONS)))
        if self.layout not in LAYOUTS:
            raise SpecError(f"'layout' must be 'bhld' or 'blhd', got {self.layout!r}")
        if self.accumulation is not None and self.accumulation not in DTYPES:
            raise SpecError(
                f"'accumulation' must be one of {', '.join(DTYPES)}, got {self.accumulation!r}"
            )
        if self.rounds_p is not None and not isinstance(self.rounds_p, bool):
            raise SpecError(f"'rounds_p' must be True or False, got {self.rounds_p!r}")
        if not isinstance(self.head_dim_multiple, int) or self.head_dim_multiple < 1:
            raise SpecError(f"'head_dim_multiple' must be a positive integer, got "
                            f"{self.head_dim_multiple!r}")
        if self.max_head_dim is not None and (
            not isinstance(self.max_head_dim, int) or self.max_head_dim < self.head_dim_multiple
        ):
            raise SpecError(f"'max_head_dim' must be an integer >= head_dim_multiple, got "
                            f"{self.max_head_dim!r}")

    def declares(self, capability: str) -> bool:
        """Whether the kernel declares ``capability`` (a key of the declaration)."""
        return bool(getattr(self, capability))

    def lacks(self, capability: str) -> str | None:
        """None when the kernel declares ``capability``; else why a check that needs it cannot
        run, in one line (the one predicate per capability that properties use)."""
        if self.declares(capability):
            return None
        keyword = next((k for k, c in KEYWORD_CAPABILITY.items() if c == capability), None)
        if keyword is not None:
            return f"the kernel does not declare {capability} (it takes no {keyword}=)"
        return f"the kernel declares {capability}={getattr(self, capability)!r}"

    def accepts(self, keyword: str) -> bool:
        """Whether the kernel takes the contract's keyword option ``keyword``."""
        return self.declares(KEYWORD_CAPABILITY[keyword])

    def capabilities(self) -> list[str]:
        """The True/False capabilities declared otherwise than their defaults, for listings:
        "alibi" for one declared, "no scale" for a default one turned off."""
        defaults = {f.name: f.default for f in fields(self)}
        listed = [name if getattr(self, name) else f"no {name}" for name in FEATURES
                  if getattr(self, name) != defaults[name]]
        return listed + ([f"approximate ({self.approximation})"] if self.approximation else [])

    def differentiable_on(self) -> tuple[str, ...]:
        """The devices whose backward the kernel declares (none without ``backward``)."""
        if not self.backward:
            return ()
        return self.devices if self.backward_devices is None else self.backward_devices

    @property
    def certified(self) -> bool:
        """Whether the kernel is approximate and returns a certificate with each call."""
        return self.approximation == "certificate"

    def exact_only(self, what: str) -> str | None:
        """None for an exact kernel; for an approximate one, why a check that needs ``what``
        exact (bits, or values the certificate does not bound) cannot run, in one line."""
        if self.approximation is None:
            return None
        return f"the kernel declares approximation={self.approximation!r}: {what}"

    def supports_head_dim(self, d: int) -> bool:
        return d % self.head_dim_multiple == 0 and (self.max_head_dim is None or d <= self.max_head_dim)

    @classmethod
    def from_declaration(cls, declaration: Any) -> "KernelSpec":
        """Validate a capability dict (or pass a KernelSpec through)."""
        if isinstance(declaration, KernelSpec):
            return declaration
        if not isinstance(declaration, dict):
            raise SpecError(
                f"the attnspec declaration must be a dict, got {type(declaration).__name__}"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(declaration) - known)
        if unknown:
            raise SpecError(
                f"unknown capability key(s) {', '.join(map(repr, unknown))}; "
                f"known keys: {', '.join(sorted(known))}"
            )
        if "dtypes" not in declaration:
            raise SpecError("the declaration must name its 'dtypes', e.g. ['float32']")
        values = dict(declaration)
        if values.get("causal") is False:
            values["causal"] = None
        if values.get("causal") is True:
            raise SpecError("'causal' must say which alignment: 'bottom_right' or 'top_left'")
        return cls(**values)

    def to_declaration(self) -> dict:
        """The import-free dict form, as a kernel module would write it."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["dtypes"] = list(self.dtypes)
        out["devices"] = list(self.devices)
        out["causal"] = self.causal or False
        if self.backward_devices is None:
            del out["backward_devices"]
        else:
            out["backward_devices"] = list(self.backward_devices)
        if self.approximation is None:
            del out["approximation"]
        if self.restrictions:
            out["restrictions"] = list(self.restrictions)
        else:
            del out["restrictions"]
        return out

    def restricted(self, restriction: str) -> bool:
        """Whether the kernel declares the restriction (RESTRICTIONS) ``restriction``."""
        return restriction in self.restrictions

    def accumulation_for(self, input_dtype: str) -> str:
        """The accumulation dtype for inputs of ``input_dtype`` (the wider of the two)."""
        order = {"bfloat16": 0, "float16": 0, "float32": 1, "float64": 2}
        declared = self.accumulation or "float32"
        return input_dtype if order[input_dtype] > order[declared] else declared

    def rounds_p_for(self, input_dtype: str) -> bool:
        """Whether P may be rounded to ``input_dtype`` before P @ V."""
        if self.rounds_p is not None:
            return self.rounds_p
        return input_dtype in ("float16", "bfloat16")

    def __call__(self, fn: Callable) -> Callable:
        """Use as a decorator: attach this declaration to ``fn`` as ``fn.attnspec``."""
        fn.attnspec = self.to_declaration()
        return fn


def attnspec_kernel(**capabilities) -> Callable[[Callable], Callable]:
    """Decorator form: ``@attnspec_kernel(dtypes=["float16"], causal="bottom_right")``."""
    return KernelSpec.from_declaration(capabilities)


def _names(key: str, values, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(values, str) or not hasattr(values, "__iter__"):
        raise SpecError(f"'{key}' must be a list of names, got {values!r}")
    names = tuple(str(v).removeprefix("torch.") for v in values)  # torch.float16 -> "float16"
    bad = [n for n in names if n not in allowed]
    if bad:
        raise SpecError(f"'{key}' has unsupported value(s) {bad}; supported: {', '.join(allowed)}")
    return names
