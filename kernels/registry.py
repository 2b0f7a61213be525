"""Built-in kernels by name: the reference kernels and adapters for PyTorch's attention.

``attnspec check sdpa-math`` works with no user code. Each entry says what it is, builds its
callable on demand, and says why it is unavailable where it is (e.g. a CUDA backend on a
machine without CUDA). Declarations of the CUDA backends follow PyTorch's documented limits.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Callable

import torch

from attnspec.kernels.spec import KernelSpec

ALL_DTYPES = ("float16", "bfloat16", "float32", "float64")


@dataclass(frozen=True)
class BuiltinKernel:
    name: str
    description: str
    build: Callable[[], Callable]
    unavailable: Callable[[], str | None]  # None when usable here, else the reason


def _always() -> None:
    return None


def present_devices() -> tuple[str, ...]:
    """The devices of the contract that this machine has (the one place that asks torch)."""
    return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)


def _needs_cuda() -> str | None:
    return None if "cuda" in present_devices() else "needs CUDA, and this machine has none"


def _reference(module_name: str, factory_name: str, **kwargs):
    def build():
        import importlib

        module = importlib.import_module(f"attnspec.kernels.attention.{module_name}")
        return getattr(module, factory_name)(**kwargs)

    return build


def _sdpa(backend: str | None, **declared):
    def build():
        from attnspec.kernels.adapters.sdpa import make_sdpa_kernel

        return make_sdpa_kernel(backend, KernelSpec(**declared))

    return build


def _flex(compiled: bool):
    def build():
        from attnspec.kernels.adapters.flex import make_flex_kernel

        # FlexAttention has no backward on CPU (NotImplementedError, torch 2.13): its backward
        # is declared, and checked, on CUDA alone.
        cuda = "cuda" in present_devices()
        # Compiled, Flex on CPU takes float32, float16 and bfloat16 only and returns no LSE
        # (NotImplementedError from inductor's CPU lowering, torch 2.13: "torch.compile on CPU
        # only supports inference"); the CPU is always among the devices, so the compiled
        # kernel declares neither (docs/findings.md 10: the cover's dtype cells found both).
        spec = KernelSpec(
            dtypes=ALL_DTYPES if not compiled else ("float16", "bfloat16", "float32"),
            devices=present_devices(), causal="bottom_right", alibi=True, mask=True,
            gqa=True, window=True, softcap=True, lse=not compiled, backward=cuda,
            backward_devices=("cuda",) if cuda else None,
        )
        return make_flex_kernel(spec, compiled=compiled)

    return build


def _positional_lsh():
    def build():
        from attnspec.kernels.alibi_lsh import positional_lsh_attention

        return positional_lsh_attention

    return build


def _flex_compiled_unavailable() -> str | None:
    if "cuda" not in present_devices() and shutil.which("cc") is None and shutil.which("gcc") is None:
        return "torch.compile on CPU needs a C compiler (cc/gcc), and none is on PATH"
    return None


_SDPA_CPU_FEATURES = dict(causal="top_left", alibi=True, mask=True, gqa=True, window=True,
                          accumulation="float32", backward=True)

BUILTINS: dict[str, BuiltinKernel] = {
    k.name: k
    for k in [
        BuiltinKernel("reference-dense", "dense softmax(S)V, float32 accumulation, causal "
                      "bottom-right", _reference("dense", "make_dense_kernel"), _always),
        BuiltinKernel("reference-dense-top-left", "dense, causal top-left",
                      _reference("dense", "make_dense_kernel", alignment="top_left"), _always),
        BuiltinKernel("reference-tiled", "tiled online softmax (64-key tiles) with LSE",
                      _reference("tiled", "make_tiled_kernel"), _always),
        BuiltinKernel("reference-tiled-fa2", "tiled online softmax rounding P to the input "
                      "dtype before P@V, as FlashAttention-2 does",
                      _reference("tiled", "make_tiled_kernel", rounds_p=True), _always),
        BuiltinKernel("reference-flash-backward", "the FlashAttention-2 tiled forward with a "
                      "hand-written FlashAttention-2 backward (P recomputed from the LSE, P "
                      "and dS rounded to the input dtype before their products)",
                      _reference("flash_backward", "make_flash_backward_kernel"), _always),
        BuiltinKernel("sdpa", "torch SDPA, PyTorch's own backend choice",
                      _sdpa(None, dtypes=ALL_DTYPES, devices=present_devices(), **_SDPA_CPU_FEATURES),
                      _always),
        BuiltinKernel("sdpa-math", "torch SDPA, MATH backend",
                      _sdpa("math", dtypes=ALL_DTYPES, devices=present_devices(), **_SDPA_CPU_FEATURES),
                      _always),
        BuiltinKernel("sdpa-flash-cpu", "torch SDPA, FLASH_ATTENTION backend on CPU",
                      _sdpa("flash", dtypes=ALL_DTYPES, devices=("cpu",), dv_equals_d=True,
                            **_SDPA_CPU_FEATURES),
                      _always),
        BuiltinKernel("sdpa-flash-cuda", "torch SDPA, FLASH_ATTENTION backend on CUDA",
                      _sdpa("flash", dtypes=("float16", "bfloat16"), devices=("cuda",),
                            causal="top_left", gqa=True, head_dim_multiple=8, max_head_dim=256,
                            dv_equals_d=True, backward=True,
                            # FlashAttention-2 accumulates dQ with atomics
                            deterministic_backward=False),
                      _needs_cuda),
        BuiltinKernel("sdpa-efficient", "torch SDPA, EFFICIENT_ATTENTION backend (CUDA)",
                      _sdpa("efficient", dtypes=("float16", "bfloat16", "float32"),
                            devices=("cuda",), causal="top_left", alibi=True, mask=True,
                            window=True, head_dim_multiple=8, backward=True,
                            # torch documents its backward as nondeterministic (atomics)
                            deterministic_backward=False),
                      _needs_cuda),
        BuiltinKernel("sdpa-cudnn", "torch SDPA, CUDNN_ATTENTION backend (CUDA)",
                      _sdpa("cudnn", dtypes=("float16", "bfloat16"), devices=("cuda",),
                            causal="top_left", head_dim_multiple=8, max_head_dim=128,
                            dv_equals_d=True, backward=True, deterministic_backward=False),
                      _needs_cuda),
        BuiltinKernel("flex", "torch FlexAttention, eager (backward on CUDA only)", _flex(False), _always),
        BuiltinKernel("flex-compiled", "torch FlexAttention through torch.compile",
                      _flex(True), _flex_compiled_unavailable),
        BuiltinKernel("positional-lsh", "positional-LSH ALiBi attention (Wolfson, Wagner 2026): the "
                      "ratio estimator over 16 sampled block masks per head, approximate with a "
                      "per-row certificate", _positional_lsh(), _always),
    ]
}
