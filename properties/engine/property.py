"""What a property is: one named claim, when it applies, how its cases are drawn and checked.

A Property names one claim, says when it applies to a subject's declaration (and why not
otherwise), draws its cases and checks one case, returning an Outcome: the worst error
relative to its tolerance (<= 1 holds) and where it is. The engine never looks inside a case:
the wing's context (driver.py, ``Context``) draws, checks and describes them. A Catalogue
holds a wing's properties by name, in the order its reports list them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Outcome:
    ratio: float  # worst error / tolerance; <= 1 holds
    detail: str = ""  # where and how, for the report


HOLDS = Outcome(0.0)  # no error at all


def worst(*outcomes: Outcome) -> Outcome:
    return max(outcomes, key=lambda o: o.ratio, default=HOLDS)


def always(declaration) -> str | None:
    return None


@dataclass(frozen=True)
class Property:
    name: str
    claim: str
    applies: Callable[[Any], str | None]  # the subject's declaration -> None, or why not
    draw: Callable[..., Any]  # the wing's way to draw a case (its context calls it)
    check: Callable[..., Outcome]  # the wing's way to check a case (its context calls it)


class Catalogue:
    """A wing's properties by name; ``claim`` registers a check as one."""

    def __init__(self, default_draw: Callable[..., Any]):
        self.default_draw = default_draw
        self.by_name: dict[str, Property] = {}

    def claim(self, name: str, statement: str, applies=always, draw=None):
        """Register the decorated check as the property ``name``."""

        def register(check):
            if name in self.by_name:
                raise ValueError(f"property {name!r} registered twice")
            self.by_name[name] = Property(name, statement, applies, draw or self.default_draw, check)
            return check

        return register

    def ordered(self, names: tuple[str, ...]) -> list[Property]:
        """The properties in the order ``names`` gives, which must name each exactly once."""
        if sorted(names) != sorted(self.by_name):
            raise ValueError(f"order and catalogue differ: {set(names) ^ set(self.by_name)}")
        return [self.by_name[n] for n in names]
