"""One cause, one message: violations that share their error are reported once, with the
declaration key that would express what their cases share (engine/causes.py,
attention/diagnosis.py)."""

from __future__ import annotations

from attnspec.properties.attention.diagnosis import declaration_hint
from attnspec.properties.attention.recipe import Recipe
from attnspec.properties.engine.causes import shared_causes
from attnspec.properties.engine.render import render_report
from attnspec.properties.engine.results import HELD, VIOLATED, Finding, Report, Result
from attnspec.properties.suites import explained_causes

NO_SCALE = ("kernel raised: TypeError: attention() got an unexpected keyword argument 'scale' "
            "(at calls.py:49)")


def _violation(name: str, detail: str, **recipe) -> Result:
    data = Recipe(**recipe).__dict__
    return Result("attention", name, f"the claim of {name}", VIOLATED,
                  counterexample=Finding(float("inf"), detail, "case", "cpu", "float32", data))


def test_the_same_error_up_to_its_numbers_is_one_cause():
    results = [
        _violation("a", "kernel raised: ValueError: head dims differ: 8 vs 16", value_dim=16),
        _violation("b", "kernel raised: ValueError: head dims differ: 4 vs 24", head_dim=4,
                   value_dim=24),
        _violation("c", NO_SCALE, scale=1.0),
        _violation("d", "out[0,0,1,2] = 1.5, exact 1.25: error 0.25 vs budget 1e-6"),
        _violation("e", "out[0,0,1,2] = 1.5, exact 1.25: error 0.25 vs budget 1e-6"),
        Result("attention", "f", "held", HELD),
    ]
    causes = shared_causes(results)
    # wrong values are each property's own finding, never grouped; one raised error is
    assert [c.names for c in causes] == [["a", "b"]]


def test_the_report_lists_a_shared_error_once_with_its_hint():
    results = [_violation(n, NO_SCALE, scale=s) for n, s in (("a", 1.0), ("b", None), ("c", 0.5))]
    report = Report({"selector": "mine.py:attention"}, "ci", results=results)
    report.causes = explained_causes(results)
    text = render_report(report)
    # once under ONE CAUSE and once in the first violation's details, not once per property
    assert text.count("got an unexpected keyword argument 'scale'") == 2, text
    assert "ONE CAUSE: 3 properties failed with the same error" in text
    assert 'declare "scale": False' in text
    assert text.count("the same error as a (ONE CAUSE above)") == 2


def test_hints_name_only_what_every_failing_case_keeps():
    dv = [Recipe(head_dim=8, value_dim=16).__dict__, Recipe(head_dim=1, value_dim=2).__dict__]
    assert '"dv_equals_d": True' in declaration_hint("kernel raised: RuntimeError: x", dv)
    mixed = dv + [Recipe(head_dim=4, value_dim=4).__dict__]
    assert declaration_hint("kernel raised: RuntimeError: x", mixed) is None
    causal = [Recipe(causal=True, q_len=1, kv_len=3).__dict__,
              Recipe(causal=True, q_len=5, kv_len=2).__dict__]
    assert "causal alignment" in declaration_hint("kernel raised: RuntimeError: x", causal)
    assert 'remove "mask"' in declaration_hint(
        "kernel raised: TypeError: f() got an unexpected keyword argument 'mask'", [])
    # shrunk cases are small and odd whatever the cause: plain cases give no hint
    assert declaration_hint("kernel raised: RuntimeError: x", [Recipe().__dict__]) is None
