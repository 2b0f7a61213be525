"""The engine: runs claims about a subject and reports them, knowing no subject.

    property    Property (a named claim, when it applies, how a case is drawn and checked),
                Outcome, Catalogue
    law         Law (a claim about the distribution of what a source draws), Plan, its check,
                LawSession (a wing's laws on one source, from fixed seeds or --seed)
    statistics  z and KS tests at a stated false-alarm rate, Bonferroni split, Check
    ratio       the one error / tolerance ratio and its rule for NaN and infinity
    invoker     a callable under a time limit, its failures in one line
    isolation   the subject's calls in a worker process: a kernel that kills its process is a
                verdict
    driver      run_property: hypothesis search, targeting, bounded shrinking, hangs, flaky and
                NaN handling
    results     one result vocabulary: statuses, Finding, Result, Report
    causes      one cause, one message: violations whose calls failed with the same error
    render      one table and one JSON shape for every report
    markdown    the report as a Markdown summary (--markdown)
    baseline    regressions against an earlier report (--baseline, attnspec compare)
    known_failures  violations a project tracks, from a plain file (--known-failures)
    suite       Suite, Session, the efforts (quick, ci, thorough), RunOptions, run_sessions

Wings (properties/attention, properties/scaling_limits, ...) supply cases and checks; the
engine imports no wing (tests/test_dependency_rules.py).
"""
