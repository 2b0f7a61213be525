"""Speed: ``attnspec bench KERNEL`` and ``pytest --attnspec-bench KERNEL`` time a kernel with
pytest-benchmark on the standard shapes, each against SDPA's default backend in the same run.

    shapes.py      the standard shapes: head layouts of real models, prefill and decode rows,
                   option rows, lengths scaled to the device
    cases.py       a shape in a dtype on a device: what it asks of a declaration, its inputs
    baseline.py    the baseline call: SDPA's default backend on the same inputs
    ratios.py      kernel / baseline ratios and the --ratio-fail regression check
    options.py     the bench options, defined once for the command and the plugin
    session.py     one run's state: kernel, device, planned cases, what was measured
    benchmarks.py  the pytest-benchmark test module (one test per case and role)
    report.py      the ratio table printed at the end of a run
    plugin.py      the pytest side, which properties/pytest_plugin.py hands over to
    command.py     ``attnspec bench``: pytest on the bench test module, in process

docs/bench.md says what is timed, the shapes, the ratio, and the thresholds to use.
"""
