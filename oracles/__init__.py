"""What the truth is: exact attention and the papers' laws, in mpmath, python-flint and numpy.

Imports neither torch nor attnspec.kernels (docs/architecture.md: oracles never share code with the
kernels they judge).
"""
