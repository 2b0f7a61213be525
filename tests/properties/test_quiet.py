"""A run is quiet: no RuntimeWarning or DeprecationWarning from attnspec's own code (the budget
code once gave 378 overflow warnings in one run), in a check or in a reproducer."""

from __future__ import annotations

import warnings
from pathlib import Path

import attnspec.kernels
import attnspec.oracles
import attnspec.properties
from attnspec.properties import suites
from attnspec.properties.cli import main
from attnspec.properties.engine.suite import RunOptions
from attnspec.properties.loading import load_kernel

NOISY = (RuntimeWarning, DeprecationWarning, FutureWarning)
OURS = tuple(str(Path(m.__file__).parent) for m in (attnspec.oracles, attnspec.kernels,
                                                     attnspec.properties))


def _ours(caught) -> list[str]:
    return [f"{w.category.__name__} at {w.filename}:{w.lineno}: {w.message}" for w in caught
            if issubclass(w.category, NOISY) and str(w.filename).startswith(OURS)]


def test_a_check_at_extreme_score_ranges_warns_nothing():
    # quick under a fixed seed draws logits to ~1e4, score shifts of -2e4 and scale 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        suites.run(load_kernel("reference-dense"),
                   RunOptions("quick", ("attention",), max_examples=12, seed=11))
    assert not _ours(caught), "\n".join(_ours(caught)[:5])


def test_a_reproducer_warns_nothing(capsys):
    case = ('{"q_len":3,"kv_len":5,"logit_scale":3000.0,"score_shift":-20000.0,"causal":true,'
            '"dtype":"float16"}')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(["reproduce", "reference-dense", "--property", "output_matches_oracle",
              "--case", case])
    assert not _ours(caught), "\n".join(_ours(caught)[:5])
