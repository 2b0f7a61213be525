"""The vectorised visibility rules (tier 2's) against tier 1's row-by-row transcription."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from attnspec.oracles.attention.certified import _visible_interval
from attnspec.oracles.attention.problem import AttentionProblem
from attnspec.oracles.attention.visibility import alibi_distance, empty_rows, visible_keys

sides = st.one_of(st.none(), st.integers(0, 12))


@given(
    Lq=st.integers(1, 12),
    Lk=st.integers(1, 12),
    causal=st.sampled_from([None, "top_left", "bottom_right"]),
    window=st.one_of(st.none(), st.tuples(sides, sides)),
    seed=st.integers(0, 2**16),
)
def test_vectorised_rules_match_the_row_transcription(Lq, Lk, causal, window, seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((1, 2, Lq, Lk)) < 0.7
    p = AttentionProblem.build(
        np.zeros((1, 2, Lq, 3)), np.zeros((1, 1, Lk, 3)), np.zeros((1, 1, Lk, 2)),
        causal=causal, window=window, mask=mask,
    )
    vis = visible_keys(p)
    for h in range(2):
        for i in range(Lq):
            lo, hi = _visible_interval(i, p)
            expected = np.array([lo <= j <= hi and mask[0, h, i, j] for j in range(Lk)])
            assert np.array_equal(vis[0, h, i], expected)
    assert np.array_equal(empty_rows(vis), ~vis.any(-1))


def test_alibi_distance_is_bottom_right_aligned():
    p = AttentionProblem.build(np.zeros((1, 1, 2, 1)), np.zeros((1, 1, 4, 1)), np.zeros((1, 1, 4, 1)))
    # query i sits at key column i + 2
    assert alibi_distance(p).tolist() == [[2, 1, 0, 1], [3, 2, 1, 0]]
