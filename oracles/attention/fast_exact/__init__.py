"""Tier 2."""
