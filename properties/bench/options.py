"""The options of a bench run, defined once for ``attnspec bench`` and the pytest plugin.

``attnspec bench`` spells them ``--NAME``, pytest ``--attnspec-bench-NAME`` (beside
``--attnspec-bench SELECTOR`` itself); ``bench_options`` validates the values for both. The
pytest-benchmark options (``--benchmark-*``) are not among them: both paths leave those to
pytest-benchmark, untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from attnspec.properties.bench.ratios import RatioCheck, parse_ratio_check

DEVICES = ("cpu", "cuda")


class BenchOptionError(ValueError):
    """A bad bench option value; str(error) is one line for the user."""


@dataclass(frozen=True)
class BenchOption:
    name: str  # the command's flag without dashes; pytest's is attnspec-bench-NAME
    help: str
    metavar: str
    type: Callable = str
    many: bool = False  # takes one or more values (nargs="+")

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    def command_flag(self) -> str:
        return f"--{self.name}"

    def pytest_flag(self) -> str:
        return f"--attnspec-bench-{self.name}"

    def kwargs(self, dest: str) -> dict:
        kw = {"help": self.help, "metavar": self.metavar, "dest": dest, "default": None}
        if self.many:  # repeatable, each use adding its values
            kw["nargs"] = "+"
            kw["action"] = "extend"
        else:
            kw["type"] = self.type
        return kw


OPTIONS = (
    BenchOption("device", "the device to time on: cpu or cuda (default: cuda when the kernel "
                          "declares it and it is present, else cpu)", "DEVICE"),
    BenchOption("max-len", "cap every prefill length and decode cache at N tokens (default: "
                           "512 and 2048 on cpu, up to 131072 on cuda as memory allows)",
                "N", type=int),
    BenchOption("ratio-fail", "fail when a kernel/baseline ratio grew by more than N%% over the "
                              "run given by --benchmark-compare: FIELD:N%% in any one case, "
                              "geomean-FIELD:N%% in the geometric mean over the cases (FIELD: "
                              "min, median, mean, max), e.g. geomean-min:25%% (repeatable)",
                "EXPR", many=True),
)


@dataclass(frozen=True)
class BenchOptions:
    device: str | None  # None: the kernel's default (see OPTIONS)
    max_len: int | None
    ratio_checks: tuple[RatioCheck, ...]


def add_to_argparse(parser) -> None:
    for option in OPTIONS:
        parser.add_argument(option.command_flag(), **option.kwargs(option.dest))


def add_to_pytest(group) -> None:
    for option in OPTIONS:
        group.addoption(option.pytest_flag(), **option.kwargs(f"attnspec_bench_{option.dest}"))


def to_pytest_args(args: list[str]) -> list[str]:
    """``args`` with each bench option in the command's spelling (``--max-len 64``,
    ``--max-len=64``) put in pytest's (``--attnspec-bench-max-len 64``); the rest untouched."""
    out = []
    for arg in args:
        for option in OPTIONS:
            flag = option.command_flag()
            if arg == flag or arg.startswith(flag + "="):
                arg = option.pytest_flag() + arg[len(flag):]
                break
        out.append(arg)
    return out


def bench_options(get: Callable[[str], object]) -> BenchOptions:
    """The validated options; ``get(dest)`` reads one (None when not given)."""
    device = get("device")
    if device is not None and device not in DEVICES:
        raise BenchOptionError(f"unknown device {device!r}; choose cpu or cuda")
    max_len = get("max_len")
    if max_len is not None and max_len < 1:
        raise BenchOptionError(f"--max-len must be at least 1, got {max_len}")
    try:
        checks = tuple(parse_ratio_check(e) for e in (get("ratio_fail") or []))
    except ValueError as error:
        raise BenchOptionError(str(error)) from None
    return BenchOptions(device, max_len, checks)
