"""Reference kernels."""
