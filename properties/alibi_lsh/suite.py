"""The alibi_lsh suite: the positional-LSH identity as a check of a kernel (identity.py).

It applies to a kernel that declares alibi and mask (else the row is "not applicable", with the
reason); with lse the merge uses the kernel's own lse, without it the float64 evaluation's.
Each effort has a plan of cases (identity.IdentityCase): ci a fixed list with fixed seeds (the
same cases and masks every run; --seed N mixes N into each case's seed), quick one case with a
fresh seed (or N), thorough (whose run always has a seed, fresh and named) longer rows (8192
and 16384 keys), more heads and rows, more masks and both schemes. Where the kernel lacks a
case's dtype the case takes the kernel's first declared dtype; without gqa, the case's kv heads
are its query heads. Cases are small in everything but the key length: the cost is the float64
evaluation that sizes the budgets of s stacked mask calls (s Hq Lq Lk scores).
"""

from __future__ import annotations

import shlex
import time
from dataclasses import replace

import numpy as np

from attnspec.properties.alibi_lsh.identity import CLAIM, NAME, IdentityCase, check_identity
from attnspec.properties.attention.context import isolate
from attnspec.properties.engine.invoker import SubjectFailure
from attnspec.properties.engine.results import HELD, NOT_RUN, VIOLATED, Finding, Result
from attnspec.properties.engine.suite import NotApplicable, Session, Suite

CALL_TIMEOUT_S = 120.0  # one stacked mask call of ~4M scores

# ci: measured to catch every ALiBi bug of the zoo at each case (docs/positional-lsh-identity.md)
CI = (
    IdentityCase(kv_len=2048, q_len=2, q_heads=2, kv_heads=1, dtype="float32", samples=64,
                 seed=11),
    IdentityCase(kv_len=2048, q_len=1, q_heads=2, kv_heads=2, dtype="bfloat16", causal=True,
                 samples=64, seed=12),
    IdentityCase(kv_len=4096, q_len=2, q_heads=2, kv_heads=2, dtype="float16", causal=True,
                 samples=64, seed=13, scheme="gap_cut"),
)
THOROUGH = (
    IdentityCase(kv_len=8192, q_len=4, q_heads=4, kv_heads=2, dtype="float32", samples=256,
                 seed=21),
    IdentityCase(kv_len=8192, q_len=4, q_heads=4, kv_heads=4, dtype="bfloat16", causal=True,
                 samples=256, seed=22, scheme="gap_cut"),
    IdentityCase(kv_len=16384, q_len=2, q_heads=8, kv_heads=2, dtype="float16", causal=True,
                 samples=256, seed=23),
    IdentityCase(kv_len=16384, q_len=1, q_heads=8, kv_heads=8, dtype="float64", samples=256,
                 seed=24),
)
QUICK = IdentityCase(kv_len=1024, q_len=1, q_heads=2, kv_heads=1, dtype="float32", samples=32)
EFFORTS = {"quick": "one case, a fresh seed, 1024 keys, 32 masks",
           "ci": "three fixed cases: 2048-4096 keys, 64 masks per head, both schemes",
           "thorough": "four fixed cases: 8192-16384 keys, up to 8 heads, 256 masks per head"}


def plan(effort: str, seed: int | None = None) -> tuple[IdentityCase, ...]:
    """The effort's cases; a run's ``seed`` (--seed) is mixed into each case's own (distinct
    streams), and quick without one draws a fresh seed."""
    cases = {"quick": (QUICK,), "ci": CI, "thorough": THOROUGH}[effort]
    if seed is None and effort == "quick":
        seed = int(np.random.default_rng().integers(2**31))  # fresh cases while editing
    if seed is None:
        return cases
    return tuple(replace(c, seed=int(np.random.SeedSequence([seed, c.seed]).generate_state(1)[0]))
                 for c in cases)


def fitted(case: IdentityCase, spec) -> IdentityCase:
    """``case`` as the kernel can take it: a declared dtype, and no GQA unless declared."""
    if case.dtype not in spec.dtypes:
        case = replace(case, dtype=spec.dtypes[0])
    if not spec.gqa:
        case = replace(case, kv_heads=case.q_heads)
    return case


def _reproducer(selector: str, case: IdentityCase, device: str) -> dict:
    imports = ("from attnspec.properties.loading import load_kernel; "
               "from attnspec.properties.alibi_lsh.identity import IdentityCase, check_identity")
    run = (f"print(check_identity(load_kernel({selector!r}), IdentityCase(**{case.__dict__!r}), "
           f"{device!r}, 600).outcome)")
    return {"shell": "python -c " + shlex.quote(f"{imports}; {run}"),
            "python": imports.replace("; ", "\n") + "\n" + run}


class IdentitySession(Session):
    suite = "alibi_lsh"

    def __init__(self, subject, effort: str, timeout_s: float, max_examples: int | None = None,
                 seed: int | None = None):
        self.subject = subject
        self.cases = [fitted(c, subject.spec) for c in plan(effort, seed)][:max_examples]
        self.timeout_s = timeout_s

    def names(self) -> list[str]:
        return [NAME]

    def claim(self, name: str) -> str:
        return CLAIM

    def run(self, name: str) -> Result:
        result = Result(self.suite, NAME, CLAIM, HELD)
        hung_on = self.subject.invoker.hung_on
        if hung_on is not None:
            result.status, result.reason = NOT_RUN, f"the kernel hung earlier (on {hung_on})"
            return result
        start = time.perf_counter()
        certificates = []
        for device in self.subject.devices:
            for case in self.cases:
                finding = Finding(0.0, "", case.describe(), device, case.dtype,
                                  {"case": case.__dict__},
                                  _reproducer(self.subject.selector, case, device))
                try:
                    checked = check_identity(self.subject, case, device, self.timeout_s)
                    finding.ratio, finding.detail = checked.outcome.ratio, checked.outcome.detail
                    certificates.append((case.describe(), checked.outcome.ratio,
                                         checked.certificate_median, checked.certificate_max))
                except SubjectFailure as failure:
                    finding.ratio = float("inf")
                    finding.detail = f"kernel {failure.kind}: {failure.message}"
                result.examples += 1
                if result.worst is None or finding.ratio > result.worst.ratio:
                    result.worst = finding
                if not finding.held and (result.counterexample is None
                                         or finding.ratio > result.counterexample.ratio):
                    result.status, result.counterexample = VIOLATED, finding
        result.seconds = time.perf_counter() - start
        result.numbers["per case: worst err/tol, certificate median and max"] = [
            list(row) for row in certificates]
        return result


def _lacks(spec) -> str | None:
    for capability in ("alibi", "mask"):
        if reason := spec.lacks(capability):
            return f"the identity calls the kernel with alibi_slopes and with masks: {reason}"
    return None


class AlibiLshSuite(Suite):
    name = "alibi_lsh"
    summary = ("the positional-LSH identity (Wolfson, Wagner 2026) as a check of a kernel: its "
               "ALiBi output against the LSE-weighted merge of its outputs under sampled block "
               "masks, within a certificate, at thousands of keys and no oracle value")

    def efforts(self) -> dict[str, str]:
        return dict(EFFORTS)

    def claims(self) -> list[tuple[str, str]]:
        return [(NAME, CLAIM)]

    def open(self, subject, effort: str, max_examples: int | None = None,
             call_timeout: float | None = None, isolation: str | None = None,
             seed: int | None = None, **_) -> IdentitySession:
        """A session on ``subject``'s kernel at ``effort`` (``max_examples``: at most that many
        of the plan's cases; ``seed``: the run's, mixed into each case's); ``isolation`` as
        for the contract's suites (attention/context.isolate)."""
        if subject is None:
            raise NotApplicable("a check of a kernel: give a kernel")
        if reason := _lacks(subject.spec):
            raise NotApplicable(reason)
        isolate(subject, isolation)
        return IdentitySession(subject, effort, call_timeout or CALL_TIMEOUT_S, max_examples,
                               seed)


ALIBI_LSH = AlibiLshSuite()
