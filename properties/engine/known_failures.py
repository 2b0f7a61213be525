"""Known failures: violations a project tracks, kept in a plain file (``--known-failures``).

One line per known failure, the way array-api-tests keeps its xfails:

    # comments and blank lines are ignored
    KERNEL-PATTERN  PROPERTY  REASON...

KERNEL-PATTERN is a shell pattern (fnmatch) matched against the kernel's selector and its name;
PROPERTY is a property or law name, or ``suite/name``; the REASON (required: a known failure
says why it is known, typically with a link to the upstream bug) is the rest of the line. A
matching violation becomes a "known failure" row that does not fail the run; a matching
property that now holds is reported so that its line can be removed (``--strict-known-failures``
makes that fail the run). A line that matches no property of any suite is an error: a typo
would otherwise silently tolerate nothing.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from attnspec.properties.engine.results import HELD, KNOWN, VIOLATED, Result


class KnownFailuresError(ValueError):
    """A known-failures file that cannot be read; str(error) is one line for the user."""


@dataclass(frozen=True)
class KnownFailure:
    pattern: str
    property: str  # "name" or "suite/name"
    reason: str
    where: str  # "FILE:LINE", to say which line to remove

    def matches(self, selector: str, name: str, result: Result) -> bool:
        suite, _, prop = self.property.rpartition("/")
        return ((fnmatch.fnmatchcase(selector, self.pattern)
                 or fnmatch.fnmatchcase(name, self.pattern))
                and prop == result.name and suite in ("", result.suite))


def load_known_failures(path: str, claims: set[tuple[str, str]]) -> list[KnownFailure]:
    """The file's lines, each checked against ``claims`` ({(suite, name)} of every suite)."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise KnownFailuresError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise KnownFailuresError(f"{path}: cannot be read: {error}") from None
    known = []
    for number, line in enumerate(lines, 1):
        text = "" if line.lstrip().startswith("#") else line.strip()
        if not text:
            continue
        fields = text.split(None, 2)
        where = f"{path}:{number}"
        if len(fields) < 3:
            raise KnownFailuresError(f"{where}: expected 'KERNEL-PATTERN PROPERTY REASON', got "
                                     f"{line.strip()!r}")
        pattern, prop, reason = fields
        suite, _, name = prop.rpartition("/")
        if not any(n == name and suite in ("", s) for s, n in claims):
            raise KnownFailuresError(f"{where}: no property or law named {prop!r} (see "
                                     f"'attnspec list --properties')")
        known.append(KnownFailure(pattern, prop, reason.strip(), where))
    return known


def apply_known_failures(result: Result, selector: str, name: str,
                         known: list[KnownFailure]) -> None:
    """Mark ``result`` known when a line lists it: a violation becomes a known failure, and a
    listed claim that holds says that its line can be removed."""
    line = next((k for k in known if k.matches(selector, name, result)), None)
    if line is None:
        return
    result.known = f"{line.where}: {line.reason}"
    if result.status == VIOLATED:
        result.status = KNOWN
    elif result.status == HELD:
        result.note = (f"listed as a known failure ({line.where}) but held: the line can be "
                       f"removed")
