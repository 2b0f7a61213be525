"""pytest plugin: attnspec's suites inside a user's own pytest run.

    pytest --attnspec-kernel mypkg.attn:flash_fwd [--attnspec-effort ci] [--attnspec-suite NAME]

adds one test item per property or law of every suite that applies, with the node id
``attnspec[SELECTOR::suite::property]``: it passes when the claim holds, fails with the same
report ``attnspec check`` prints when it is violated, and is skipped with the reason when it
does not apply to the kernel's declaration; a suite's note (a result that needs no run, such
as a capability the kernel declares that nothing checks) is an item skipped with its reason.
The options are those of ``attnspec check``
(properties/options.py), spelled ``--attnspec-NAME``. A selector that does not load stops the
session with a usage error. A known failure (``--attnspec-known-failures``) is an xfail; a
regression against ``--attnspec-baseline`` fails its item, as does a known failure that now
holds under ``--attnspec-strict-known-failures``. The session-scoped fixture ``attnspec_kernel`` gives the loaded
kernel (the first selector) to the user's own tests.

    pytest --attnspec-bench mypkg.attn:flash_fwd [--benchmark-autosave] [--benchmark-compare] ...

times the kernel against SDPA's default backend on the standard shapes with pytest-benchmark,
as ``attnspec bench`` does (properties/bench/, docs/bench.md).
"""

from __future__ import annotations

import pytest

_STATE = pytest.StashKey[dict]()


def pytest_addoption(parser):
    from attnspec.properties.options import add_to_pytest

    group = parser.getgroup("attnspec", "attention kernel verification (attnspec)")
    group.addoption("--attnspec-kernel", action="append", default=[], metavar="SELECTOR",
                    help="check this kernel's properties: built-in name, module:attr or "
                         "file.py:attr (repeatable)")
    add_to_pytest(group)
    from attnspec.properties.bench.plugin import add_options as add_bench_options

    add_bench_options(group)


def pytest_configure(config):
    """--attnspec-bench SELECTOR: time the kernel against SDPA (properties/bench/plugin.py)."""
    from attnspec.properties.bench.plugin import configure as configure_bench

    configure_bench(config)


def _state(config) -> dict:
    if _STATE not in config.stash:
        config.stash[_STATE] = {}
    return config.stash[_STATE]


def _options(config):
    from attnspec.properties.options import OptionError, run_options

    state = _state(config)
    if "options" not in state:
        try:
            # options the plugin leaves to pytest (fail-fast: -x) read as not given
            state["options"] = run_options(lambda dest: config.getoption(f"attnspec_{dest}", None))
        except OptionError as error:
            raise pytest.UsageError(f"attnspec: {error}") from None
    return state["options"]


def _sessions(config, selector: str) -> dict:
    """The loaded kernel's sessions, one per suite that applies (a hang is remembered)."""
    from attnspec.properties.loading import LoadError, load_kernel
    from attnspec.properties.suites import RunError, open_sessions, with_dtypes

    state = _state(config).setdefault("kernels", {})
    if selector not in state:
        try:
            subject = load_kernel(selector)
        except LoadError as error:
            raise pytest.UsageError(f"--attnspec-kernel: {error}") from None
        try:
            checked = with_dtypes(subject, _options(config).dtypes)
        except RunError as error:
            raise pytest.UsageError(f"attnspec: {error}") from None
        sessions, _, _ = open_sessions(checked, _options(config))  # a kernel: none inapplicable
        state[selector] = (subject, {session.suite: session for session in sessions})
        _tracking(config, selector, subject)  # a bad baseline or known-failures file: stop now
    return state[selector]


def _tracking(config, selector: str, subject=None):
    """The kernel's known failures and baseline (properties/tracking.py), read once."""
    from attnspec import properties
    from attnspec.properties.engine.baseline import BaselineError
    from attnspec.properties.engine.known_failures import KnownFailuresError
    from attnspec.properties.engine.render import report_header
    from attnspec.properties.suites import new_report
    from attnspec.properties.tracking import Tracking

    state = _state(config).setdefault("tracking", {})
    if selector not in state:
        header = report_header(new_report(subject, _options(config), "pytest"),
                               properties.version())
        try:
            state[selector] = Tracking.open(_options(config), header)
        except (BaselineError, KnownFailuresError) as error:
            raise pytest.UsageError(f"attnspec: {error}") from None
    return state[selector]


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """Each --attnspec-kernel is collected as a node of the session, beside the user's files:
    ``attnspec[SELECTOR]`` holds one node per suite, which holds one item per property, so the
    items are counted in "collected N items" and their ids read
    ``attnspec[SELECTOR]::SUITE::PROPERTY`` (-k, -m, --deselect and --lf take them)."""
    report = yield
    if isinstance(collector, pytest.Session) and report.passed:
        for selector in collector.config.getoption("attnspec_kernel"):
            _sessions(collector.config, selector)  # fail at collection on a bad selector
            name = f"attnspec[{selector}]"  # a child of the session: its id is its name
            report.result.append(KernelNode.from_parent(collector, name=name, nodeid=name,
                                                        selector=selector))
    return report


class KernelNode(pytest.Collector):
    """One kernel's suites (``attnspec[SELECTOR]``)."""

    def __init__(self, *, selector: str, **kwargs):
        super().__init__(**kwargs)
        self.selector = selector

    def collect(self):
        _, sessions = _sessions(self.config, self.selector)
        return [SuiteNode.from_parent(self, name=suite_name, selector=self.selector,
                                      suite_session=suite_session)
                for suite_name, suite_session in sessions.items()]


class SuiteNode(pytest.Collector):
    """One suite's properties on one kernel (``attnspec[SELECTOR]::SUITE``)."""

    def __init__(self, *, selector: str, suite_session, **kwargs):
        super().__init__(**kwargs)
        self.selector = selector
        self.suite_session = suite_session

    def collect(self):
        options = _options(self.config)
        items = []
        for name in self.suite_session.names():
            if options.properties is not None and name not in options.properties:
                continue
            items.append(PropertyItem.from_parent(self, name=name, selector=self.selector,
                                                  suite=self.name, property_name=name))
        if options.properties is None:  # a declared capability nothing checks: a skip
            for note in self.suite_session.notes():
                items.append(PropertyItem.from_parent(
                    self, name=note.name, selector=self.selector, suite=self.name,
                    property_name=note.name, note=note))
        return items


class PropertyViolated(Exception):
    pass


class PropertyItem(pytest.Item):
    def __init__(self, *, selector: str, suite: str, property_name: str, note=None, **kwargs):
        super().__init__(**kwargs)
        self.selector = selector
        self.suite = suite
        self.property_name = property_name
        self.note = note  # a result that needs no run (e.g. "not checked"), shown as a skip

    def runtest(self):
        from attnspec.properties.engine.render import render_report
        from attnspec.properties.engine.results import KNOWN, NOT_APPLICABLE, Report
        from attnspec.properties.suites import subject_data

        if self.note is not None:
            pytest.skip(f"{self.note.status}: {self.note.reason}")
        subject, sessions = _sessions(self.config, self.selector)
        result = sessions[self.suite].run(self.property_name)
        tracking = _tracking(self.config, self.selector)
        tracking.apply(result)  # known failures and the baseline's figure
        _state(self.config).setdefault("results", {}).setdefault(self.selector, []).append(result)
        if result.status == NOT_APPLICABLE:
            pytest.skip(f"not applicable: {result.reason}")
        options = _options(self.config)
        if result.status == KNOWN:
            pytest.xfail(f"known failure ({result.known})")
        if not result.ok or result.regression or (options.strict_known_failures
                                                  and result.fixed_known):
            report = Report(subject_data(subject), options.effort, [result], result.seconds,
                            baseline=tracking.baseline.label if tracking.baseline else None)
            text = render_report(report)
            if result.fixed_known:
                text += f"\n{result.note} (--attnspec-strict-known-failures)"
            raise PropertyViolated(text)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, PropertyViolated):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.selector, None, f"attnspec {self.suite} {self.property_name}"


def pytest_sessionfinish(session, exitstatus):
    """--attnspec-json PATH: the report of the kernel's run, in the shape ``attnspec check
    --json`` writes (a list of such reports when several kernels were given);
    --attnspec-markdown PATH: the same as a Markdown summary."""
    config = session.config
    if not config.getoption("attnspec_kernel"):
        return
    options = _options(config)
    if not (options.json or options.markdown):
        return
    import json

    from attnspec import properties
    from attnspec.properties.engine.markdown import render_markdown
    from attnspec.properties.engine.render import report_data
    from attnspec.properties.suites import new_report

    state = _state(config)
    reports = []
    for selector in config.getoption("attnspec_kernel"):
        subject, _ = _sessions(config, selector)
        report = new_report(subject, options, "pytest")
        report.results = state.get("results", {}).get(selector, [])
        report.seconds = sum(r.seconds for r in report.results)
        baseline = _tracking(config, selector).baseline
        report.baseline = baseline.label if baseline is not None else None
        reports.append(report)
    if options.json:
        data = [report_data(report, properties.version()) for report in reports]
        with open(options.json, "w") as f:
            json.dump(data[0] if len(data) == 1 else data, f, indent=2)
    if options.markdown:
        with open(options.markdown, "w") as f:
            f.write("\n".join(render_markdown(report) for report in reports))


@pytest.fixture(scope="session")
def attnspec_kernel(request):
    """The kernel given by the first --attnspec-kernel, loaded (a Subject: .fn, .spec, ...)."""
    selectors = request.config.getoption("attnspec_kernel")
    if not selectors:
        pytest.skip("no --attnspec-kernel given")
    return _sessions(request.config, selectors[0])[0]
