"""Kernels of paper 2, ALiBi as the expectation of random block masks (Wolfson, Wagner 2026).

Modules are listed here as they land (docs/claims.md, section 2).
"""
