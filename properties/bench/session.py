"""One bench run's state, shared by the pytest plugin and the bench test module: the kernel, the
device, the planned cases, and what the run has measured so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from attnspec.properties.bench.cases import BenchCase, plan
from attnspec.properties.bench.options import BenchOptions
from attnspec.properties.bench.pairing import Timings
from attnspec.properties.bench.ratios import Regression
from attnspec.properties.bench.shapes import caps_for, standard_shapes
from attnspec.properties.loading import LoadError, Subject, load_kernel


class BenchError(Exception):
    """The run cannot start (a selector that does not load, a device the kernel cannot use);
    str(error) is one line for the user."""


@dataclass
class Measured:
    """A kernel entry's timings, in seconds, those of the baseline calls paired with its rounds,
    and their ratios."""

    case: BenchCase
    fullname: str  # the kernel entry's name in pytest-benchmark's storage
    kernel: object  # pytest-benchmark Stats of the kernel's rounds
    baseline: Timings  # the baseline calls made between those rounds (pairing.py)
    ratios: dict  # {ratio_min: ..., ...}


@dataclass
class BenchSession:
    selector: str
    subject: Subject
    options: BenchOptions
    device: str
    caps: dict[str, int]  # the longest prefill and decode cache (shapes.caps_for)
    cases: list[tuple[BenchCase, str | None]]  # each with the reason it is skipped, or None
    measured: list[Measured] = field(default_factory=list)
    compared: list[tuple[str, dict]] = field(default_factory=list)  # (label, stored run)
    regressions: list[Regression] = field(default_factory=list)

    def machine_info(self) -> dict:
        """What pytest-benchmark's machine_info lacks for attention: the device, torch."""
        info = {"device": self.device, "torch": torch.__version__,
                "torch_threads": torch.get_num_threads()}
        if self.device == "cuda":
            info["device_name"] = torch.cuda.get_device_name()
        return info


SESSION = pytest.StashKey[BenchSession]()


def choose_device(subject: Subject, requested: str | None) -> str:
    """The device to time on: ``requested`` when the kernel declares it and it is present, else
    by default cuda before cpu among the kernel's devices that are present."""
    if requested is not None:
        if requested not in subject.spec.devices:
            raise BenchError(f"{subject.selector} does not declare device {requested!r} "
                             f"(it declares {', '.join(subject.spec.devices)})")
        if requested not in subject.devices:
            raise BenchError(f"{requested} is not present on this machine")
        return requested
    for device in ("cuda", "cpu"):
        if device in subject.devices:
            return device
    raise BenchError(f"{subject.selector} declares devices {', '.join(subject.spec.devices)}, "
                     f"and none is present on this machine")


def free_bytes(device: str) -> int | None:
    """Free memory of a CUDA device in bytes; None on CPU (a stated cap limits CPU rows)."""
    if device == "cuda":
        return torch.cuda.mem_get_info()[0]
    return None


def open_session(selector: str, options: BenchOptions) -> BenchSession:
    """Load the kernel and plan its cases; BenchError when it cannot run here."""
    try:
        subject = load_kernel(selector)
    except LoadError as error:
        raise BenchError(str(error)) from None
    device = choose_device(subject, options.device)
    shapes = standard_shapes(device, options.max_len)
    cases = plan(shapes, subject.spec, device, free_bytes(device))
    return BenchSession(selector, subject, options, device, caps_for(device, options.max_len),
                        cases)
