"""Oracles of paper 3, mean-field token dynamics with auxiliary variables (Imaizumi, Koyama,
Isobe, Hayashi 2026).

Modules are listed here as they land (docs/claims.md, section 3).
"""
