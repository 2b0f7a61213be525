"""The subject-free engine."""
