"""Kernels for the fast_slow suite's tests: two broken ones it must flag (loaded by selector)."""

import math

import torch


def ignores_causal(q, k, v, *, causal=False):
    """Declares causal attention, computes bidirectional attention: a future leak."""
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # [B, H, Lq, Lk]
    return torch.softmax(s, dim=-1) @ v


ignores_causal.attnspec = {"dtypes": ["float32"], "causal": "bottom_right"}


def wrong_scale(q, k, v, *, causal=False):
    """Scores scaled by 1.001 / sqrt(D): every attention matrix is slightly off."""
    s = q @ k.transpose(-1, -2) * (1.001 / math.sqrt(q.shape[-1]))
    if causal:
        L = q.shape[2]
        s = s.masked_fill(torch.ones(L, L, dtype=torch.bool).triu(1), -math.inf)
    return torch.softmax(s, dim=-1) @ v


wrong_scale.attnspec = {"dtypes": ["float64"], "causal": "bottom_right"}


def no_causal(q, k, v):
    """Correct bidirectional attention that declares no causal support."""
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    return torch.softmax(s.double(), dim=-1).to(q.dtype) @ v


no_causal.attnspec = {"dtypes": ["float64"]}
