"""Fast attention computations in torch, on CPU and CUDA: reference kernels, the kernels the
papers describe, and adapters presenting third-party kernels under the kernel contract.

Imports nothing of attnspec.properties, and nothing of attnspec.oracles (a kernel must not
share code with the oracle that judges it).
"""

from attnspec.kernels.spec import KernelSpec, SpecError, attnspec_kernel

__all__ = ["KernelSpec", "SpecError", "attnspec_kernel"]
