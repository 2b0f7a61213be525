"""What must hold: attnspec's suites, their engine, and the front door.

    engine/          knows no subject: properties and laws, the hypothesis driver, the invoker,
                     statistics, one result vocabulary, one table and JSON (engine/__init__.py)
    attention/       the kernel contract's suites: recipes, strategies, cases, the forward
                     properties, long contexts
    scaling_limits/  the statistical laws of long random contexts (paper 1)
    bench/           ``attnspec bench``: the kernel timed with pytest-benchmark against SDPA
    suites.py        the index of suites that the CLI and the pytest plugin both read
    options.py       the run options, defined once for both
    tracking.py      a run's known failures and baseline (engine/known_failures.py, baseline.py)
    loading.py       a kernel from a selector (built-in name, module:attr, file.py:attr)
    cli.py           the ``attnspec`` command;  pytest_plugin.py  ``pytest --attnspec-kernel``

Rules (tests/test_dependency_rules.py): the engine imports no wing; the attention wing
imports no paper wing; a paper wing may use the attention wing.
"""


def version() -> str:
    """The installed attnspec version (written into every JSON report)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("attnspec")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"
