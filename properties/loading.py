"""Load the kernel under test from a selector, with one-line reasons when that fails.

Selectors: a built-in name (``attnspec list``), ``package.module:attr`` or
``path/to/file.py:attr`` (``attr`` may be dotted). The callable must carry an ``attnspec``
declaration (a dict, or a KernelSpec) unless a ``spec`` is supplied.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from attnspec.kernels.adapters.layout import from_blhd
from attnspec.kernels.registry import BUILTINS, present_devices
from attnspec.kernels.spec import KernelSpec, SpecError
from attnspec.properties.engine.invoker import Invoker


class LoadError(Exception):
    """The selector cannot give a kernel; str(error) is one line for the user."""


@dataclass
class Subject:
    """A kernel ready for the properties: a [B, H, L, D] callable and its declaration."""

    selector: str
    name: str
    fn: Callable
    spec: KernelSpec
    devices: tuple[str, ...]  # declared and present here
    absent_devices: tuple[str, ...]  # declared but not present: reported, never silently dropped
    # Every call of the kernel, by any suite, goes through this one invoker, so that a kernel
    # that hung once is never called again in the run.
    invoker: Invoker = field(default_factory=Invoker, repr=False, compare=False)


def load_kernel(selector: str, spec: KernelSpec | dict | None = None) -> Subject:
    fn = _resolve(selector)
    if not callable(fn):
        raise LoadError(f"{selector} is a {type(fn).__name__}, not a callable kernel")
    declaration = spec if spec is not None else getattr(fn, "attnspec", None)
    if declaration is None:
        raise LoadError(
            f"{selector} has no attnspec declaration; add e.g. "
            f"{getattr(fn, '__name__', 'attention')}.attnspec = {{\"dtypes\": [\"float32\"]}}"
        )
    try:
        spec = KernelSpec.from_declaration(declaration)
    except SpecError as error:
        raise LoadError(f"{selector}: invalid attnspec declaration: {error}") from None
    present = present_devices()
    kernel = from_blhd(fn) if spec.layout == "blhd" else fn
    return Subject(
        selector=selector,
        name=getattr(fn, "__name__", selector),
        fn=kernel,
        spec=spec,
        devices=tuple(d for d in spec.devices if d in present),
        absent_devices=tuple(d for d in spec.devices if d not in present),
    )


def _resolve(selector: str):
    if selector in BUILTINS:
        entry = BUILTINS[selector]
        reason = entry.unavailable()
        if reason:
            raise LoadError(f"built-in kernel {selector!r} is unavailable: {reason}")
        return entry.build()
    if ":" not in selector:
        raise LoadError(
            f"unknown kernel {selector!r}: not a built-in name (see 'attnspec list') and not "
            f"module:attr or path/to/file.py:attr"
        )
    where, attr = selector.rsplit(":", 1)
    if not attr:
        raise LoadError(f"{selector}: no attribute after ':'")
    module = import_file(where) if where.endswith(".py") or "/" in where else _import_module(where)
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise LoadError(f"{where} has no attribute {attr!r}") from None
    return obj


def _import_module(name: str):
    """Import ``name`` as ``python -m`` would find it: from the current directory first, then
    the installed packages (the ``attnspec`` script's own sys.path lacks the current
    directory, so ``mymodule:attr`` next to the user failed where ``python -c`` worked)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        raise LoadError(f"cannot import {name!r}: {error} (a kernel in a file can be given as "
                        f"path/to/file.py:ATTR)") from None
    except Exception as error:  # the user's module raised while importing
        raise LoadError(f"importing {name!r} raised {type(error).__name__}: {error}") from None


def import_file(path: str):
    """Import a Python file as a module (its folder goes on sys.path, as for a script)."""
    file = Path(path)
    if not file.is_file():
        raise LoadError(f"no such kernel file: {path}")
    name = f"attnspec_user_kernel_{abs(hash(str(file.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    # The kernel file may import its neighbours, as it would when run as a script.
    sys.path.insert(0, str(file.resolve().parent))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(name, None)
        raise LoadError(f"importing {path} raised {type(error).__name__}: {error}") from None
    return module
