"""Where a kernel's time goes: first calls on a new input signature, apart from the rest.

A kernel that compiles for each new shape (torch.compile without dynamic shapes, jax.jit,
Triton autotuning) spends most of a check's time compiling: one first call per distinct
signature (shapes, strides, dtype, device and the keyword options with the shapes of their
tensors). The forward properties' calls are timed here by signature, so the report can say how
many first calls there were and what they cost against calls on a signature seen before: the
difference is compile time, not check time (``"compiled_per_shape": True`` in the declaration
then draws from a short list of shapes, strategies.py). One clock per kernel (its invoker), for
every suite of the run.
"""

from __future__ import annotations

import statistics
import weakref
from dataclasses import dataclass, field

import torch


def signature(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kwargs: dict) -> tuple:
    """What a compiler keys its cache on: shapes, strides, dtypes and devices of the tensors,
    and the keyword options (a tensor option by its shape and dtype, others by value)."""
    def of(t):
        if isinstance(t, torch.Tensor):
            return tuple(t.shape), t.stride(), str(t.dtype), t.device.type
        return t
    return (of(q), of(k), of(v)) + tuple(sorted((name, repr(of(value)))
                                                for name, value in kwargs.items()))


@dataclass
class ShapeClock:
    seen: set = field(default_factory=set)
    first: list = field(default_factory=list)  # seconds of each first call on a signature
    repeat: list = field(default_factory=list)  # seconds of every other call

    def record(self, key: tuple, seconds: float) -> None:
        if key in self.seen:
            self.repeat.append(seconds)
        else:
            self.seen.add(key)
            self.first.append(seconds)

    def summary(self, declared: bool = False) -> str | None:
        """One line for the report, or None before any call; ``declared``: the kernel already
        declares compiled_per_shape (no hint to declare it)."""
        if not self.first:
            return None
        line = (f"kernel calls (forward): {len(self.first)} first calls on a new input signature "
                f"took {sum(self.first):.1f} s (median {statistics.median(self.first) * 1e3:.3g} ms)")
        if self.repeat:
            line += (f", {len(self.repeat)} calls on a signature seen before "
                     f"{sum(self.repeat):.1f} s (median {statistics.median(self.repeat) * 1e3:.3g} "
                     f"ms)")
            excess = sum(self.first) - len(self.first) * statistics.median(self.repeat)
            # a compiling kernel: seconds of first-call excess, most of the kernel's time
            # (torch.compile stops compiling after its recompile limit, so the first calls'
            # median can look ordinary while a few of them took seconds each)
            if excess > 5.0 and excess > 0.5 * (sum(self.first) + sum(self.repeat)):
                line += f": about {excess:.0f} s went to first calls (compiling?)"
                if not declared:
                    line += "; declare \"compiled_per_shape\": True to draw fewer distinct shapes"
        return line


_CLOCKS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def clock_of(invoker) -> ShapeClock:
    """The clock of the kernel that ``invoker`` calls (one per kernel, for the whole run)."""
    if invoker not in _CLOCKS:
        _CLOCKS[invoker] = ShapeClock()
    return _CLOCKS[invoker]
