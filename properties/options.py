"""The run options, defined once for the ``attnspec`` command and the pytest plugin.

Each option is declared here once, with its help text; ``add_to_argparse`` gives it to the CLI
as ``--NAME`` and ``add_to_pytest`` to the plugin as ``--attnspec-NAME``, with the same meaning
and checks (``run_options`` validates the values and resolves aliases). Names kept from earlier
versions are aliases: ``--profile`` and ``--size`` for ``--effort`` (``long`` for the thorough
effort; ``--profile long`` runs the long-context suite only, as it always did), ``--law`` for
``--property``. The effort vocabulary is the engine's (quick, ci, thorough); its help text is
generated from what each suite does at each effort.
"""

from __future__ import annotations

from dataclasses import dataclass

from attnspec.kernels.spec import DTYPES
from attnspec.properties.engine.suite import EFFORTS, RunOptions
from attnspec.properties.suites import SUITES

# Effort names kept from earlier versions: each is an effort, and for `check` a choice of suites.
EFFORT_ALIASES = {"long": ("thorough", ("long_contexts",))}
ISOLATION_MODES = ("process", "none")


class OptionError(ValueError):
    """A bad option value; str(error) is one line for the user."""


@dataclass(frozen=True)
class Option:
    name: str  # the flag without dashes, e.g. "effort"
    help: str
    aliases: tuple[str, ...] = ()  # older flags with the same meaning, e.g. ("profile",)
    type: type | None = None
    metavar: str | None = None
    repeatable: bool = False

    def flags(self) -> list[tuple[str, str]]:
        """(flag name, dest) for the option and each alias: an alias has a dest of its own, so
        that a message can name the flag that was typed."""
        base = self.name.replace("-", "_")
        return [(self.name, base)] + [(a, f"{base}__{a}") for a in self.aliases]

    def kwargs(self, flag: str) -> dict:
        kw = {"help": self.help if flag == self.name else f"the same as --{self.name}",
              "default": [] if self.repeatable else None}
        if self.type is bool:
            kw["action"] = "store_true"
            kw["default"] = False
        else:
            kw["type"] = self.type
            kw["metavar"] = self.metavar
            if self.repeatable:
                kw["action"] = "append"
        return kw


def _effort_help() -> str:
    lines = []
    for effort in EFFORTS:
        parts = [f"{s.name}: {s.efforts()[effort]}" for s in SUITES if effort in s.efforts()]
        lines.append(f"{effort} ({'; '.join(parts)})")
    return ("how hard to look, one of: " + "; ".join(lines) + ". Default: ci. 'long' is the "
            "thorough effort (with --profile: the long_contexts suite only)")


def options() -> tuple[Option, ...]:
    return (
        Option("effort", _effort_help(), aliases=("profile", "size"), type=str, metavar="EFFORT"),
        Option("suite", "run only this suite (repeatable; default: every suite that applies; "
               "see 'attnspec list --suites')", type=str, metavar="NAME", repeatable=True),
        Option("property", "run only this property or law (repeatable)", aliases=("law",),
               type=str, metavar="NAME", repeatable=True),
        Option("dtype", "check only this dtype (repeatable; one the kernel declares; default: "
               "every declared dtype)", type=str, metavar="DTYPE", repeatable=True),
        Option("seed", "draw every suite's cases and every law's samples from this seed "
               "(default: ci's fixed seeds; quick draws fresh cases, thorough a fresh seed that "
               "the report names, so --seed repeats it)", type=int, metavar="N"),
        Option("max-examples", "examples per property (overrides the effort's; in the "
               "attention and gradients suites at ci and thorough, the random examples that "
               "follow the cover's 19 planned cells: docs/coverage.md)", type=int, metavar="N"),
        Option("call-timeout", "per-call time limit for the kernel, in seconds (default from "
               "the effort)", type=float, metavar="SECONDS"),
        Option("json", "also write the report as JSON", type=str, metavar="PATH"),
        Option("fail-fast", "stop after the first property that does not hold", type=bool),
        Option("baseline", "an earlier JSON report of the same kernel, effort and attnspec "
               "version: a property newly violated, or whose worst err/tol grew by more than "
               "--max-growth, is a regression and fails the run", type=str, metavar="PATH"),
        Option("max-growth", "the factor by which a worst err/tol may grow over the baseline's "
               "before it is a regression (default 2)", type=float, metavar="FACTOR"),
        Option("known-failures", "a file of known violations, one per line: KERNEL-PATTERN "
               "PROPERTY REASON; they are reported as known and do not fail the run",
               type=str, metavar="FILE"),
        Option("strict-known-failures", "fail the run when a known failure now holds (its line "
               "can be removed)", type=bool),
        Option("markdown", "also write the report as a Markdown summary (for a CI job page)",
               type=str, metavar="PATH"),
        Option("database", "keep hypothesis's example database in this directory, so that a "
               "counterexample found once is replayed first on the next run", type=str,
               metavar="DIR"),
        Option("isolation", "run the kernel in a separate process (process) so that a crash is "
               "a verdict, or in this one (none); default: process for a kernel of your own, "
               "none for a built-in", type=str, metavar="MODE"),
    )


def add_to_argparse(parser) -> None:
    for option in options():
        for flag, dest in option.flags():
            parser.add_argument(f"--{flag}", dest=dest, **option.kwargs(flag))


def add_to_pytest(group) -> None:
    for option in options():
        if option.name == "fail-fast":  # pytest's own -x / --maxfail does this for its items
            continue
        for flag, dest in option.flags():
            group.addoption(f"--attnspec-{flag}", dest=f"attnspec_{dest}", **option.kwargs(flag))


def _given(get, option: Option):
    """(value, flag) of the first of the option's flags that was given, or (None, name)."""
    for flag, dest in option.flags():
        value = get(dest)
        if value not in (None, [], False):
            return value, flag
    return None, option.name


def run_options(get, suites: tuple[str, ...] | None = None) -> RunOptions:
    """Validate the options read by ``get(dest)`` (argparse or pytest) into RunOptions;
    ``suites`` fixes the suites (a command that runs one suite)."""
    by_name = {o.name: o for o in options()}
    effort, flag = _given(get, by_name["effort"])
    effort = effort or "ci"
    chosen = suites or (tuple(_given(get, by_name["suite"])[0] or ()) or None)
    if effort in EFFORT_ALIASES:
        effort, only = EFFORT_ALIASES[effort]
        if flag == "profile" and chosen is None:
            chosen = only
    if effort not in EFFORTS:
        raise OptionError(f"unknown {flag} {effort!r}; choose from {', '.join(EFFORTS)} "
                          f"(or {', '.join(EFFORT_ALIASES)})")
    names = [s.name for s in SUITES]
    for name in chosen or ():
        if name not in names:
            raise OptionError(f"unknown suite {name!r}; choose from {', '.join(names)}")
    properties, flag = _given(get, by_name["property"])
    known = {n for s in SUITES if chosen is None or s.name in chosen for n, _ in s.claims()}
    for name in properties or ():
        if name not in known:
            listing = "'attnspec list --properties'"
            raise OptionError(f"unknown {flag} {name!r}; choose from {', '.join(sorted(known))}"
                              if flag == "law" else f"unknown {flag} {name!r}; see {listing}")
    max_examples, call_timeout = get("max_examples"), get("call_timeout")
    if max_examples is not None and max_examples < 1:
        raise OptionError("--max-examples must be at least 1")
    if call_timeout is not None and call_timeout <= 0:
        raise OptionError("--call-timeout must be positive")
    run_seed = get("seed")
    if run_seed is not None and not 0 <= run_seed < 2**63:
        raise OptionError("--seed must be a whole number from 0 to 2^63 - 1")
    max_growth = get("max_growth")
    if max_growth is not None and not max_growth > 1:
        raise OptionError("--max-growth must be a factor greater than 1")
    if get("baseline") and get("database"):
        # measured: with a database, hypothesis keeps a pareto front of the targeted error in it
        # and draws from it, so even an empty database changes the cases a ci run draws
        raise OptionError("--baseline and --database do not go together: an example database "
                          "changes the cases a run draws, and a baseline compares the same cases")
    dtypes = tuple(dict.fromkeys(_given(get, by_name["dtype"])[0] or ()))
    for dtype in dtypes:
        if dtype not in DTYPES:
            raise OptionError(f"unknown --dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    isolation = get("isolation")
    if isolation is not None and isolation not in ISOLATION_MODES:
        raise OptionError(f"unknown --isolation {isolation!r}; choose from "
                          f"{', '.join(ISOLATION_MODES)}")
    return RunOptions(effort, chosen, tuple(properties) if properties else None, max_examples,
                      call_timeout, get("json"), bool(get("fail_fast")), baseline=get("baseline"),
                      max_growth=2.0 if max_growth is None else max_growth,
                      known_failures=get("known_failures"),
                      strict_known_failures=bool(get("strict_known_failures")),
                      markdown=get("markdown"), database=get("database"), isolation=isolation,
                      dtypes=dtypes or None, seed=run_seed)
