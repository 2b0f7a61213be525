"""The layer's FLOP counter against the paper's formulas and against torch's own count.

Claims (docs/claims.md section 4; [P] "P^2 cheaper", [D] the formulas of
oracles/fast_slow/flops.py): the counter (kernels/fast_slow/flops.py) gives each path's parts
exactly as the oracle's formulas (integers, no tolerance), and its ratios are the stated ones:
attention matrices P^2, causal entries P^2 (T + 1)/(T + P), projections P, whole layer
(4 T^2 d + 8 T d^2)/(4 N^2 d + 8 N d^2 + 3 T d). And what the layer really multiplies, counted
by torch.utils.flop_counter.FlopCounterMode (matrix products only: 2 m k n each), equals the
counter's projections + attention of both paths (pooling and gate are elementwise, uncounted).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import torch
from attnspec.kernels.fast_slow.flops import path_total
from attnspec.oracles.fast_slow import flops as formulas
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class FlopCheck:
    counter_matches_formulas: bool
    ratios: dict                 # name -> (counted, stated) as Fractions
    measured_matmul: int         # FlopCounterMode's total on one forward call
    counted_matmul: int          # the counter's projections + attention, both paths

    @property
    def ratios_hold(self) -> bool:
        return all(a == b for a, b in self.ratios.values())


def check_flops(layer, x: torch.Tensor) -> FlopCheck:
    """Counter vs formulas vs FlopCounterMode for ``layer`` on x [B, T, d] (P | T for the ratios)."""
    B, T, d = x.shape
    P = layer.block
    counted = layer.flops(T, batch=1)
    matches = (counted["fast"] == formulas.fast_path_flops(T, d)
               and counted["slow"] == formulas.slow_path_flops(T, P, d))
    N = T // P
    ratios = {}
    if N and T % P == 0:
        fast_attn, slow_attn = counted["fast"]["attention"], counted["slow"]["attention"]
        ratios = {
            "attention_matrix": (Fraction(fast_attn, slow_attn), Fraction(P * P)),
            "causal_entries": (Fraction(formulas.causal_entries(T), formulas.causal_entries(N)),
                               formulas.causal_entry_ratio_closed_form(T, P)),
            "projections": (Fraction(counted["fast"]["projections"], counted["slow"]["projections"]),
                            Fraction(P)),
            "whole_layer": (Fraction(path_total(counted, "fast"), path_total(counted, "slow")),
                            formulas.whole_layer_ratio(T, P, d)),
        }
    with torch.no_grad(), FlopCounterMode(display=False) as mode:
        layer(x)
    measured = mode.get_total_flops()
    counted_b = layer.flops(T, batch=B)
    counted_matmul = sum(counted_b[p][part] for p in ("fast", "slow")
                         for part in ("projections", "attention"))
    return FlopCheck(matches, ratios, measured, counted_matmul)
