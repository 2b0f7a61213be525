"""The kernel contract's truth."""
