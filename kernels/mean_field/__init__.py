"""Kernels of paper 3, mean-field token dynamics with auxiliary variables (Imaizumi, Koyama,
Isobe, Hayashi 2026; docs/mean-field.md).

    models   the four models (plain, logit_pe, additive, prompt) as calls of the kernel contract
    flow     the batched RK4-with-projection integrator of the SA and USA flows, whose attention
             is any contract kernel (the dense reference by default)

torch only, no device hard-coded; imports neither attnspec.oracles nor attnspec.properties.
"""

from attnspec.kernels.mean_field.flow import (Trajectory, default_attention, integrate, project,
                                              random_tokens, rk4_step, velocity)
from attnspec.kernels.mean_field.models import AttentionCall, TokenModel, attention_call

__all__ = ["AttentionCall", "TokenModel", "Trajectory", "attention_call", "default_attention",
           "integrate", "project", "random_tokens", "rk4_step", "velocity"]
