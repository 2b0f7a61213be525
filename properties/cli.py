"""The ``attnspec`` command.

    attnspec check SELECTOR [--effort quick|ci|thorough] [--suite NAME] [--property NAME]
                            [--max-examples N] [--call-timeout S] [--json PATH] [--fail-fast]
                            [--baseline OLD.json [--max-growth F]] [--known-failures FILE]
                            [--strict-known-failures] [--markdown PATH] [--database DIR]
                            [--isolation process|none]
    attnspec list [--properties | --suites]
    attnspec reproduce SELECTOR --property NAME --case JSON [--device cpu]
    attnspec compare OLD.json NEW.json [--max-growth FACTOR] [--markdown PATH]
    attnspec bench SELECTOR [--device D] [--max-len N] [--ratio-fail CHECK] [pytest-benchmark
                            options...]  (docs/bench.md)
    attnspec laws check [--kernel SELECTOR] [--effort ci|thorough] [--law NAME] [--json PATH]
    attnspec laws phase [--d 3 8 16] [--n 1000 10000 100000] [--out phase.png]

``check`` runs every suite of properties/suites.py that applies to the kernel; ``laws check``
runs the scaling_limits suite, on the streaming Monte Carlo kernel unless ``--kernel`` is given.
The run options are defined once (properties/options.py) and shared with the pytest plugin.

Exit status: 0 when every applicable property holds (a known failure does not count), 1 when
one is violated (or could not be run or decided), regressed against ``--baseline``
(``compare``: NEW against OLD), when nothing was checked at all (every chosen suite unplanned
at the effort, or nothing applicable), or, with ``--strict-known-failures``, when a known
failure now holds; 2 on a usage error (bad arguments, a selector that does not load, an invalid
declaration, a baseline or known-failures file that is unreadable or made another way, an
output path that cannot be written), 3 when attnspec itself failed (a bug to report; the
kernel is not to blame).
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_HELD, EXIT_VIOLATED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    from attnspec.properties.options import add_to_argparse

    parser = argparse.ArgumentParser(
        prog="attnspec",
        description="Property-based verification of attention kernels against certified oracles.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="check a kernel against every suite that applies")
    check.add_argument("selector", help="built-in name, package.module:attr, or file.py:attr")
    add_to_argparse(check)
    check.add_argument("--verbose", "-v", action="store_true",
                       help="show every test of every law, not only the failing ones")

    listing = sub.add_parser("list", help="list built-in kernels (or properties, or suites)")
    listing.add_argument("--properties", action="store_true", help="list the properties instead")
    listing.add_argument("--suites", action="store_true", help="list the suites and efforts")

    repro = sub.add_parser("reproduce", help="re-run one case of one property and show it")
    repro.add_argument("selector")
    repro.add_argument("--property", required=True)
    repro.add_argument("--case", required=True, help="the recipe JSON from a report")
    repro.add_argument("--device", default="cpu")

    compare = sub.add_parser(
        "compare", help="the regressions of one saved JSON report against another")
    compare.add_argument("old", help="the earlier report (e.g. main's)")
    compare.add_argument("new", help="the later report (e.g. a pull request's)")
    compare.add_argument("--max-growth", type=float, default=None, metavar="FACTOR",
                         help="the factor by which a worst err/tol may grow before it is a "
                              "regression (default 2)")
    compare.add_argument("--markdown", metavar="PATH", help="also write the comparison as Markdown")

    from attnspec.properties.bench.command import add_parser as add_bench_parser

    add_bench_parser(sub)

    laws = sub.add_parser("laws", help="statistical laws of attention over long random contexts")
    laws_sub = laws.add_subparsers(dest="laws_command", required=True)
    laws_check = laws_sub.add_parser(
        "check", help="check the scaling laws on the streaming Monte Carlo kernel or a kernel")
    laws_check.add_argument("--kernel", metavar="SELECTOR",
                            help="an attention kernel (built-in name, module:attr or file.py:attr); "
                                 "default: the streaming Monte Carlo kernel")
    add_to_argparse(laws_check)
    laws_check.add_argument("--verbose", "-v", action="store_true",
                            help="show every test of every law, not only the failing ones")
    phase = laws_sub.add_parser("phase", help="draw the phase diagram (PNG; needs matplotlib)")
    phase.add_argument("--d", nargs="+", type=int, default=[3, 8, 16], help="sphere dimensions")
    phase.add_argument("--n", nargs="+", type=int, default=[1000, 10_000, 100_000],
                       help="context lengths of the critical panels")
    phase.add_argument("--contexts", type=int, default=150, help="Monte Carlo contexts per point")
    phase.add_argument("--sub-n", type=int, default=10_000, help="context length of the subcritical panels")
    phase.add_argument("--points", type=int, default=30, help="oracle points per curve")
    phase.add_argument("--seed", type=int, default=9100)
    phase.add_argument("--out", default="phase.png", help="output PNG (default phase.png)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "check":
            return _check(args)
        if args.command == "list":
            return _list(args)
        if args.command == "laws":
            return _laws(args)
        if args.command == "compare":
            return _compare(args)
        if args.command == "bench":
            from attnspec.properties.bench.command import run as bench

            return bench(args)
        return _reproduce(args)
    except _Usage as error:
        print(f"attnspec: {error}", file=sys.stderr)
        return EXIT_USAGE


class _Usage(Exception):
    pass


def _load(selector: str):
    from attnspec.properties.loading import LoadError, load_kernel

    try:
        return load_kernel(selector)
    except LoadError as error:
        raise _Usage(str(error)) from None


def _options(args, suites=None):
    from attnspec.properties.options import OptionError, run_options

    try:
        return run_options(lambda dest: getattr(args, dest, None), suites)
    except OptionError as error:
        raise _Usage(str(error)) from None


def _progress(result) -> None:
    print(f"  {result.suite}/{result.name}: {result.status} ({result.examples} examples, "
          f"{result.seconds:.1f} s)", file=sys.stderr, flush=True)


def _tracking(subject, options, command: str = "check", name: str = ""):
    """Known failures and the baseline, read and checked before anything runs."""
    from attnspec import properties
    from attnspec.properties.engine.baseline import BaselineError
    from attnspec.properties.engine.known_failures import KnownFailuresError
    from attnspec.properties.engine.render import report_header
    from attnspec.properties.suites import new_report
    from attnspec.properties.tracking import Tracking

    header = report_header(new_report(subject, options, command, name), properties.version())
    try:
        return Tracking.open(options, header)
    except (BaselineError, KnownFailuresError) as error:
        raise _Usage(str(error)) from None


def _write(path: str, text: str, flag: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as error:
        raise _Usage(f"{flag}: cannot write {path}: {error.strerror or error}") from None


def _check_writable(*paths_and_flags) -> None:
    """Refuse, before anything runs, an output path that cannot be written."""
    import os

    for path, flag in paths_and_flags:
        if not path:
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path) or not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise _Usage(f"{flag}: cannot write {path}"
                         + (" (a directory)" if os.path.isdir(path) else
                            f" (no writable folder {folder})"))


def _finish(report, options, verbose: bool) -> int:
    from attnspec import properties
    from attnspec.properties.engine.markdown import render_markdown
    from attnspec.properties.engine.render import render_report, report_data

    print(render_report(report, verbose=verbose))
    if options.json:
        _write(options.json, json.dumps(report_data(report, properties.version()), indent=2),
               "--json")
    if options.markdown:
        _write(options.markdown, render_markdown(report), "--markdown")
    if report.errored:
        return EXIT_INTERNAL
    if report.violated or report.regressions or not report.checked:
        return EXIT_VIOLATED
    if options.strict_known_failures and report.fixed_known:
        return EXIT_VIOLATED
    return EXIT_HELD


def _run(subject, options, args, command: str = "check", name: str = "") -> int:
    from attnspec.properties import suites

    _check_writable((options.json, "--json"), (options.markdown, "--markdown"))
    try:
        suites.with_dtypes(subject, options.dtypes)  # an undeclared --dtype: stop before running
    except suites.RunError as error:
        raise _Usage(str(error)) from None
    tracking = _tracking(subject, options, command, name)
    report = suites.run(subject, options, on_result=_progress, command=command, name=name,
                        tracking=tracking)
    return _finish(report, options, args.verbose)


def _check(args) -> int:
    options = _options(args)
    return _run(_load(args.selector), options, args)


def _laws(args) -> int:
    if args.laws_command == "phase":
        return _laws_phase(args)
    options = _options(args, suites=("scaling_limits",))
    subject = _load(args.kernel) if args.kernel else None
    return _run(subject, options, args, command="laws check", name="streaming Monte Carlo")


def _compare(args) -> int:
    from attnspec.properties.engine.baseline import (DEFAULT_MAX_GROWTH, BaselineError,
                                                     compare_reports, render_comparison)

    growth = DEFAULT_MAX_GROWTH if args.max_growth is None else args.max_growth
    if not growth > 1:
        raise _Usage("--max-growth must be a factor greater than 1")
    _check_writable((args.markdown, "--markdown"))
    try:
        comparison = compare_reports(args.old, args.new, growth)
    except BaselineError as error:
        raise _Usage(str(error)) from None
    print(render_comparison(comparison))
    if args.markdown:
        _write(args.markdown, render_comparison(comparison, markdown=True), "--markdown")
    return EXIT_VIOLATED if comparison.regressions else EXIT_HELD


def _list(args) -> int:
    if args.properties or args.suites:
        from attnspec.properties.suites import SUITES

        for suite in SUITES:
            if args.suites:
                print(f"{suite.name}\n    {suite.summary}")
                for effort, what in suite.efforts().items():
                    print(f"    {effort}: {what}")
                continue
            for name, claim in suite.claims():
                print(f"{name}  [{suite.name}]\n    {claim}")
        return EXIT_HELD
    from attnspec.kernels.registry import BUILTINS
    from attnspec.kernels.spec import KernelSpec

    for name, entry in BUILTINS.items():
        reason = entry.unavailable()
        print(f"{name:<26} {entry.description}")
        if reason:
            print(f"{'':<26} unavailable: {reason}")
            continue
        spec = KernelSpec.from_declaration(entry.build().attnspec)
        features = spec.capabilities()
        print(f"{'':<26} dtypes {','.join(spec.dtypes)}; devices {','.join(spec.devices)}; "
              f"causal {spec.causal or 'no'}; {' '.join(features) or 'no options'}")
    return EXIT_HELD


def _reproduce(args) -> int:
    from attnspec.properties.attention.suite import CONTRACT, GRADIENTS, reproduce

    if args.property not in dict(CONTRACT.claims()) | dict(GRADIENTS.claims()):
        raise _Usage(f"unknown property {args.property!r}; see 'attnspec list --properties'")
    try:
        from attnspec.properties.attention.recipe import Recipe

        recipe = Recipe.from_json(args.case)
    except (ValueError, TypeError) as error:
        raise _Usage(f"--case is not a recipe: {error}") from None
    subject = _load(args.selector)
    text, held = reproduce(subject, args.property, recipe, args.device)
    print(text)
    return EXIT_HELD if held else EXIT_VIOLATED


def _laws_phase(args) -> int:
    from attnspec.properties.scaling_limits.phase import (MissingPlotting, draw_phase, phase_data,
                                                          require_matplotlib)

    try:
        require_matplotlib()
    except MissingPlotting as error:
        raise _Usage(str(error)) from None
    if any(d < 2 for d in args.d) or any(n < 2 for n in args.n) or args.sub_n < 2:
        raise _Usage("--d values must be >= 2 and --n, --sub-n values >= 2")
    if args.contexts < 2 or args.points < 2:
        raise _Usage("--contexts and --points must be at least 2")
    data = phase_data(args.d, args.n, contexts=args.contexts, sub_n=args.sub_n, points=args.points,
                      seed=args.seed, log=lambda msg: print(f"  {msg}", file=sys.stderr, flush=True))
    print(f"wrote {draw_phase(data, args.out)}")
    return EXIT_HELD


if __name__ == "__main__":
    sys.exit(main())
