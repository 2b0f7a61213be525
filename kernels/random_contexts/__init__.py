"""Streaming Monte Carlo over very long random contexts (keys i.i.d. on the sphere)."""
