"""Statistical laws of attention over long random contexts, checked against the scaling-limit oracles."""
