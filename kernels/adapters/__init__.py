"""Adapters presenting third-party attention kernels under the kernel contract."""
