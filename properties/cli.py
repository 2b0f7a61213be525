"""The ``attnspec`` command.

    attnspec check SELECTOR [--profile quick|ci|thorough] [--json PATH] ...
    attnspec list [--properties]
    attnspec reproduce SELECTOR --property NAME --case JSON [--device cpu]
    attnspec laws check [--kernel SELECTOR] [--size ci|long] [--law NAME] [--json PATH]
    attnspec laws phase [--d 3 8 16] [--n 1000 10000 100000] [--out phase.png]

Exit status: 0 when every applicable property holds, 1 when one is violated (or could not be
run or decided), 2 on a usage error (bad arguments, a selector that does not load, an invalid
declaration), 3 when attnspec itself failed (a bug to report; the kernel is not to blame).
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_HELD, EXIT_VIOLATED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attnspec",
        description="Property-based verification of attention kernels against certified oracles.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="check a kernel against the contract's properties")
    check.add_argument("selector", help="built-in name, package.module:attr, or file.py:attr")
    check.add_argument("--profile", default="ci", help="quick, ci (default) or thorough")
    check.add_argument("--max-examples", type=int, help="examples per property (overrides)")
    check.add_argument("--property", action="append", dest="properties", metavar="NAME",
                       help="run only this property (repeatable)")
    check.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    check.add_argument("--call-timeout", type=float, metavar="SECONDS",
                       help="per-call time limit for the kernel (default from the profile)")
    check.add_argument("--fail-fast", action="store_true",
                       help="stop after the first property that does not hold")

    listing = sub.add_parser("list", help="list built-in kernels (or properties)")
    listing.add_argument("--properties", action="store_true", help="list the properties instead")

    repro = sub.add_parser("reproduce", help="re-run one case of one property and show it")
    repro.add_argument("selector")
    repro.add_argument("--property", required=True)
    repro.add_argument("--case", required=True, help="the recipe JSON from a report")
    repro.add_argument("--device", default="cpu")

    laws = sub.add_parser("laws", help="statistical laws of attention over long random contexts")
    laws_sub = laws.add_subparsers(dest="laws_command", required=True)
    laws_check = laws_sub.add_parser(
        "check", help="check the scaling laws on the streaming Monte Carlo kernel or a kernel")
    laws_check.add_argument("--kernel", metavar="SELECTOR",
                            help="an attention kernel (built-in name, module:attr or file.py:attr); "
                                 "default: the streaming Monte Carlo kernel")
    laws_check.add_argument("--size", default="ci", help="ci (default, seconds) or long (minutes)")
    laws_check.add_argument("--law", action="append", dest="laws", metavar="NAME",
                            help="run only this law (repeatable)")
    laws_check.add_argument("--json", metavar="PATH", help="also write the report as JSON")
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


def _profile(args):
    from dataclasses import replace

    from attnspec.properties.attention.profiles import PROFILES

    if args.profile not in PROFILES:
        raise _Usage(f"unknown profile {args.profile!r}; choose from {', '.join(PROFILES)}")
    profile = PROFILES[args.profile]
    if args.max_examples is not None:
        if args.max_examples < 1:
            raise _Usage("--max-examples must be at least 1")
        profile = profile.with_examples(args.max_examples)
    if args.call_timeout is not None:
        if args.call_timeout <= 0:
            raise _Usage("--call-timeout must be positive")
        profile = replace(profile, call_timeout_s=args.call_timeout)
    return profile


def _check(args) -> int:
    from attnspec.properties.attention.forward import CATALOG
    from attnspec.properties.attention.report import as_data, render
    from attnspec.properties.engine.driver import run_check

    profile = _profile(args)
    if args.properties:
        unknown = [p for p in args.properties if p not in CATALOG]
        if unknown:
            raise _Usage(f"unknown property {unknown[0]!r}; see 'attnspec list --properties'")
    subject = _load(args.selector)

    def progress(result):
        print(f"  {result.name}: {result.status} ({result.examples} examples, "
              f"{result.seconds:.1f} s)", file=sys.stderr, flush=True)

    report = run_check(subject, profile, args.properties, on_result=progress,
                       fail_fast=args.fail_fast)
    print(render(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(as_data(report), f, indent=2)
    if report.errored:
        return EXIT_INTERNAL
    return EXIT_VIOLATED if report.violated else EXIT_HELD


def _list(args) -> int:
    if args.properties:
        from attnspec.properties.attention.forward import PROPERTIES

        for p in PROPERTIES:
            print(f"{p.name}\n    {p.claim}")
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
        features = [f for f in ("alibi", "mask", "gqa", "window", "softcap", "lse") if getattr(spec, f)]
        print(f"{'':<26} dtypes {','.join(spec.dtypes)}; devices {','.join(spec.devices)}; "
              f"causal {spec.causal or 'no'}; {' '.join(features) or 'no options'}")
    return EXIT_HELD


def _reproduce(args) -> int:
    from attnspec.properties.attention.forward import CATALOG, Context
    from attnspec.properties.engine.invoker import KernelFailure
    from attnspec.properties.attention.profiles import PROFILES
    from attnspec.properties.attention.recipe import Recipe

    if args.property not in CATALOG:
        raise _Usage(f"unknown property {args.property!r}; see 'attnspec list --properties'")
    try:
        recipe = Recipe.from_json(args.case)
    except (ValueError, TypeError) as error:
        raise _Usage(f"--case is not a recipe: {error}") from None
    subject = _load(args.selector)
    prop = CATALOG[args.property]
    ctx = Context(subject, PROFILES["ci"])
    print(f"{prop.name}: {prop.claim}\ncase: {recipe.describe()} on {args.device}")
    try:
        outcome = prop.check(ctx, recipe, args.device)
    except KernelFailure as failure:
        print(f"VIOLATED: kernel {failure.kind}: {failure.message}")
        return EXIT_VIOLATED
    verdict = "VIOLATED" if outcome.ratio > 1 else "held"
    print(f"{verdict}: worst error/tolerance {outcome.ratio:.3g}  {outcome.detail}")
    return EXIT_VIOLATED if outcome.ratio > 1 else EXIT_HELD


def _laws(args) -> int:
    if args.laws_command == "phase":
        return _laws_phase(args)
    from attnspec.properties.scaling_limits.base import SIZES
    from attnspec.properties.scaling_limits.catalog import CATALOG, check_laws, render
    from attnspec.properties.scaling_limits.sources import KernelSource, StreamingSource

    if args.size not in SIZES:
        raise _Usage(f"unknown size {args.size!r}; choose from {', '.join(SIZES)}")
    unknown = [n for n in args.laws or () if n not in CATALOG]
    if unknown:
        raise _Usage(f"unknown law {unknown[0]!r}; choose from {', '.join(CATALOG)}")
    source = KernelSource(_load(args.kernel)) if args.kernel else StreamingSource()

    def progress(verdict):
        print(f"  {verdict.law}: {verdict.status} ({verdict.seconds:.1f} s)", file=sys.stderr,
              flush=True)

    report = check_laws(source, args.size, args.laws, on_verdict=progress)
    print(render(report, verbose=args.verbose))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report.as_data(), f, indent=2)
    if report.errored:
        return EXIT_INTERNAL
    return EXIT_VIOLATED if report.violated else EXIT_HELD


def _laws_phase(args) -> int:
    from attnspec.properties.scaling_limits.phase import MissingPlotting, draw_phase, phase_data, require_matplotlib

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
