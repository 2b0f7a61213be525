"""Kernels of paper 4, fast-slow coupled attention (Gao 2026).

Modules are listed here as they land (docs/claims.md, section 4).
"""
