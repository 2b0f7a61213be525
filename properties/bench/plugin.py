"""The pytest side of ``attnspec bench``: ``pytest --attnspec-bench SELECTOR``.

properties/pytest_plugin.py hands the options and the configuration over to this module. With
``--attnspec-bench`` given, ``configure`` loads the kernel and plans its cases (a selector that
does not load, or a bad bench option, is a usage error), and registers a ``BenchPlugin``, which

- adds the bench test module's tests (benchmarks.py) to the session, under the node id
  ``attnspec-bench::test_attention[CASE/ROLE]``, before ``-k`` and ``-m`` select;
- adds the device and torch to pytest-benchmark's machine_info;
- keeps the runs that ``--benchmark-compare`` loads, and after the tests checks the ratios
  against them (``--attnspec-bench-ratio-fail``): a regression fails the session (exit 1);
- prints the ratio table (report.py) after pytest-benchmark's tables.

The module is collected from the installed package (the module object is imported by name,
never from a path), so it works whatever the user's rootdir and import mode.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from attnspec.properties.bench.options import BenchOptionError, add_to_pytest, bench_options
from attnspec.properties.bench.ratios import find_regressions
from attnspec.properties.bench.report import render
from attnspec.properties.bench.session import SESSION, BenchError, BenchSession, open_session

TEST_MODULE = "attnspec.properties.bench.benchmarks"
NODE_ID = "attnspec-bench"


def add_options(group) -> None:
    group.addoption("--attnspec-bench", metavar="SELECTOR", default=None,
                    help="time this kernel against SDPA's default backend on the standard "
                         "shapes, with pytest-benchmark (built-in name, module:attr or "
                         "file.py:attr)")
    add_to_pytest(group)


def configure(config) -> None:
    """Open the bench session and register the plugin when ``--attnspec-bench`` is given."""
    selector = config.getoption("attnspec_bench", None)
    if selector is None:
        return
    try:
        options = bench_options(lambda dest: config.getoption(f"attnspec_bench_{dest}"))
        session = open_session(selector, options)
    except (BenchOptionError, BenchError) as error:
        raise pytest.UsageError(f"--attnspec-bench: {error}") from None
    config.stash[SESSION] = session
    config.pluginmanager.register(BenchPlugin(session), "attnspec-bench")


class BenchModule(pytest.Module):
    """The bench test module, imported by its package name rather than from a file path."""

    def _getobj(self):
        return importlib.import_module(TEST_MODULE)


class BenchPlugin:
    """The hooks of one bench run (the module docstring lists them)."""

    def __init__(self, session: BenchSession):
        self.session = session

    @pytest.hookimpl(tryfirst=True)  # before -k / -m deselection, so they apply to these tests
    def pytest_collection_modifyitems(self, session, config, items):
        module = importlib.import_module(TEST_MODULE)
        collector = BenchModule.from_parent(session, path=Path(module.__file__), name=NODE_ID,
                                            nodeid=NODE_ID)
        items.extend(collector.collect())

    @pytest.hookimpl(optionalhook=True)
    def pytest_benchmark_update_machine_info(self, config, machine_info):
        machine_info["attnspec_bench"] = self.session.machine_info()

    @pytest.hookimpl(optionalhook=True)
    def pytest_benchmark_compare_machine_info(self, config, benchmarksession, machine_info,
                                              compared_benchmark):
        label = compared_benchmark.get("datetime", f"stored run {len(self.session.compared) + 1}")
        self.session.compared.append((f"the run of {label}", compared_benchmark))

    def pytest_sessionstart(self, session):
        # pytest-benchmark loads the compared runs in its pytest_configure, before this hook
        if self.session.options.ratio_checks and not self.session.compared:
            raise pytest.UsageError("--attnspec-bench-ratio-fail needs a stored run to compare "
                                    "with: give --benchmark-compare (and store a run with "
                                    "--benchmark-autosave or --benchmark-save)")

    def pytest_sessionfinish(self, session, exitstatus):
        checks = self.session.options.ratio_checks
        if not checks:
            return
        current = {m.fullname: (m.case.id, m.ratios) for m in self.session.measured}
        self.session.regressions = find_regressions(current, self.session.compared, checks)
        if self.session.regressions and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(hookwrapper=True)  # after pytest-benchmark's tables, even when it raised
    def pytest_terminal_summary(self, terminalreporter):
        yield
        terminalreporter.write_sep("-", "attnspec bench: kernel / baseline")
        for line in render(self.session):
            terminalreporter.write_line(line)
