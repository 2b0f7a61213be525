"""``attnspec bench KERNEL [--device D] [--max-len N] [--ratio-fail EXPR] [PYTEST OPTIONS]``.

Runs pytest, in this process, on attnspec's bench test module alone (``--attnspec-bench
KERNEL``; properties/bench/plugin.py), with every option after the selector that is not one of
the bench options above passed to pytest untouched: pytest-benchmark's ``--benchmark-autosave``,
``--benchmark-save``, ``--benchmark-storage``, ``--benchmark-compare``,
``--benchmark-compare-fail``, ``--benchmark-json``, ``--benchmark-max-time`` ... behave as
pytest-benchmark documents them, and pytest's ``-k`` picks cases. The storage is pytest-
benchmark's default, ``./.benchmarks`` under the working directory, unless
``--benchmark-storage`` says otherwise.

The run reads no pytest configuration of the working directory (no pytest.ini or pyproject
addopts, no conftest.py, which could turn on xdist and so switch pytest-benchmark off): its
options are on its command line. ``pytest --attnspec-bench KERNEL`` is the same run inside the
user's own pytest, configuration included.

Exit status: 0 when every case was timed (or skipped with its reason) and nothing regressed; 1
when a test failed (the kernel raised, or returned the wrong form) or ``--benchmark-compare-fail``
or ``--ratio-fail`` flagged a regression; 2 on a usage error (a selector that does not load, a
bad option, nothing selected); 3 when attnspec itself failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from attnspec.properties.bench.options import (OPTIONS, BenchOptionError, add_to_argparse,
                                               bench_options, to_pytest_args)
from attnspec.properties.bench.session import BenchError, open_session

# pytest's exit codes -> attnspec's (properties/cli.py): 0 held, 1 violated, 2 usage, 3 internal
EXIT_CODES = {0: 0, 1: 1, 2: 3, 3: 3, 4: 2, 5: 2}


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``bench`` subcommand to the ``attnspec`` command's subparsers."""
    bench = subparsers.add_parser(
        "bench", help="time a kernel against SDPA's default backend with pytest-benchmark",
        description="Time a kernel on the standard shapes (prefill and decode rows of real "
                    "models' head layouts, each declared dtype and option) with pytest-benchmark, "
                    "each shape against SDPA's default backend in the same run; docs/bench.md.",
        epilog="Options after KERNEL that are not bench options go to pytest untouched, e.g. "
               "--benchmark-autosave, --benchmark-compare, --benchmark-compare-fail=min:600%, "
               "-k decode. The bench options may come before or after KERNEL. Thresholds: "
               "docs/bench.md.")
    bench.add_argument("selector", metavar="KERNEL",
                       help="built-in name, package.module:attr, or file.py:attr")
    add_to_argparse(bench)
    bench.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="PYTEST_OPTION",
                       help="pytest and pytest-benchmark options, passed on untouched")
    return bench


def run(args) -> int:
    """Run the bench; the exit status of the module docstring."""
    forwarded = to_pytest_args(list(args.pytest_args or []))
    given = []  # bench options given before the selector, in pytest's spelling
    for option in OPTIONS:
        value = getattr(args, option.dest, None)
        if value is not None:
            given += [option.pytest_flag(), *map(str, value if option.many else [value])]
    try:
        options = bench_options(_reader(given + forwarded))
        open_session(args.selector, options)  # a one-line error here, before pytest starts
    except (BenchOptionError, BenchError) as error:
        print(f"attnspec: {error}", file=sys.stderr)
        return EXIT_CODES[4]

    import pytest
    from pytest_benchmark.session import PerformanceRegression

    with tempfile.TemporaryDirectory(prefix="attnspec-bench-") as root:
        # the empty folder is the one collection path and the rootdir: nothing of the working
        # directory is collected or configures the run (module docstring)
        argv = ["-p", "no:cacheprovider", "-rs", "-c", os.devnull, "--rootdir", root,
                "--attnspec-bench", args.selector, root, *given, *forwarded]
        # Run from inside a pytest-xdist worker (a test, a harness that shells out), the
        # worker's PYTEST_XDIST_* variables would make pytest-benchmark take this run for a
        # worker too and switch itself off: every case "passed", nothing timed. This run is
        # no worker; they are hidden from it.
        xdist = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("PYTEST_XDIST_")}
        try:
            code = int(pytest.main(argv))
        except PerformanceRegression:  # --benchmark-compare-fail, reported by pytest-benchmark
            code = 1
        finally:
            os.environ.update(xdist)
    if code == 5:
        print("attnspec: no bench case was selected", file=sys.stderr)
    return EXIT_CODES.get(code, 3)


def _reader(pytest_args: list[str]):
    """Read the bench options out of ``pytest_args`` (pytest's spelling), ignoring the rest."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    for option in OPTIONS:
        parser.add_argument(option.pytest_flag(), **option.kwargs(option.dest))
    try:
        known, _ = parser.parse_known_args(pytest_args)
    except argparse.ArgumentError as error:  # e.g. --max-len given no integer
        raise BenchOptionError(str(error).replace("--attnspec-bench-", "--")) from None
    return lambda dest: getattr(known, dest, None)
