"""pytest plugin: attnspec's properties inside a user's own pytest run.

    pytest --attnspec-kernel mypkg.attn:flash_fwd [--attnspec-profile ci]

adds one test item per property, ``attnspec[SELECTOR::property]``: it passes when the property
holds, fails with the same report ``attnspec check`` prints when it is violated, and is skipped
with the reason when it does not apply to the kernel's declaration. A selector that does not
load stops the session with a usage error. The session-scoped fixture ``attnspec_kernel`` gives
the loaded kernel (the first selector) to the user's own tests.
"""

from __future__ import annotations

import pytest

_STATE = pytest.StashKey[dict]()


def pytest_addoption(parser):
    group = parser.getgroup("attnspec", "attention kernel verification (attnspec)")
    group.addoption("--attnspec-kernel", action="append", default=[], metavar="SELECTOR",
                    help="check this kernel's properties: built-in name, module:attr or "
                         "file.py:attr (repeatable)")
    group.addoption("--attnspec-profile", default="ci", metavar="NAME",
                    help="quick, ci (default) or thorough")
    group.addoption("--attnspec-max-examples", type=int, default=None, metavar="N",
                    help="examples per property (overrides the profile)")


def _state(config) -> dict:
    if _STATE not in config.stash:
        config.stash[_STATE] = {}
    return config.stash[_STATE]


def _profile(config):
    from attnspec.properties.attention.profiles import PROFILES

    name = config.getoption("attnspec_profile")
    if name not in PROFILES:
        raise pytest.UsageError(f"--attnspec-profile: unknown profile {name!r}; choose from "
                                f"{', '.join(PROFILES)}")
    profile = PROFILES[name]
    n = config.getoption("attnspec_max_examples")
    return profile if n is None else profile.with_examples(n)


def _context(config, selector: str):
    """One loaded kernel and invoker per selector per session (a hang is remembered)."""
    from attnspec.properties.attention.forward import Context
    from attnspec.properties.loading import LoadError, load_kernel

    contexts = _state(config)
    if selector not in contexts:
        try:
            subject = load_kernel(selector)
        except LoadError as error:
            raise pytest.UsageError(f"--attnspec-kernel: {error}") from None
        contexts[selector] = Context(subject, _profile(config))
    return contexts[selector]


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselection, so they apply to these items too
def pytest_collection_modifyitems(session, config, items):
    from attnspec.properties.attention.forward import PROPERTIES

    for selector in config.getoption("attnspec_kernel"):
        _context(config, selector)  # fail early, at collection, on a bad selector
        for prop in PROPERTIES:
            items.append(PropertyItem.from_parent(
                session, name=f"attnspec[{selector}::{prop.name}]", selector=selector,
                property_name=prop.name))


class PropertyViolated(Exception):
    pass


class PropertyItem(pytest.Item):
    def __init__(self, *, selector: str, property_name: str, **kwargs):
        super().__init__(**kwargs)
        self.selector = selector
        self.property_name = property_name

    def runtest(self):
        from attnspec.properties.attention.forward import CATALOG
        from attnspec.properties.attention.report import render
        from attnspec.properties.engine.driver import CheckReport, run_property

        ctx = _context(self.config, self.selector)
        result = run_property(CATALOG[self.property_name], ctx, ctx.profile)
        if result.status == "not applicable":
            pytest.skip(f"not applicable: {result.reason}")
        if not result.ok:
            report = CheckReport(ctx.subject, ctx.profile, [result], result.seconds)
            raise PropertyViolated(render(report))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, PropertyViolated):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.selector, None, f"attnspec {self.property_name}"


@pytest.fixture(scope="session")
def attnspec_kernel(request):
    """The kernel given by the first --attnspec-kernel, loaded (a Subject: .fn, .spec, ...)."""
    selectors = request.config.getoption("attnspec_kernel")
    if not selectors:
        pytest.skip("no --attnspec-kernel given")
    return _context(request.config, selectors[0]).subject
