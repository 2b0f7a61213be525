"""The contract suite."""
