"""The fast-slow coupled attention layer (Gao 2026, as reconstructed in docs/fast-slow.md).

Claims (docs/claims.md section 4):

    out = fast(x) + gate * slow(x)                                   [P] additive gate, zero init
    fast(x) = W_o^f A(W_q^f x, W_k^f x, W_v^f x; causal over T tokens)          [P]
    slow(x)_t = W_o^s A(W_q^s m, W_k^s m, W_v^s m; causal over blocks)_(b*(t)),  [P] [D]
                m = causal block means of x (pooling.py), b*(t) = floor((t + 1)/P) - 1, and an
                explicit zero where b*(t) = -1 (no complete block: no softmax over nothing)

A is any attention kernel of the contract (docs/kernel-contract.md: ``A(q, k, v, causal=...)``
on [B, H, L, D]; a kernel declaring the [B, L, H, D] layout is wrapped by
kernels/adapters/layout.py), the built-in dense reference by default; the slow attention is square
(N queries, N keys), so both causal alignments agree. ``read_rule`` selects the slow read:
"complete" (the causal rule, default), "own_block" and "bidirectional" (leaking negative
controls, pooling.py). With gate = 0 the output is fast(x) exactly: 0 * slow is a zero, and
adding a zero changes no float (a -0 fast output would become +0, which compares equal).

Shapes: x [B, T, d] with d = heads * head_dim; every parameter lives on ``device`` (none is
hard-coded), so the layer runs on CPU and on CUDA.
"""

from __future__ import annotations

import torch
from attnspec.kernels.adapters.layout import from_blhd
from attnspec.kernels.attention.dense import dense_attention
from attnspec.kernels.fast_slow.flops import layer_flops
from attnspec.kernels.fast_slow.pooling import READ_RULES, block_mean, read_index
from torch import nn


def _projections(d: int, dtype, device) -> nn.ModuleDict:
    return nn.ModuleDict({name: nn.Linear(d, d, bias=False, dtype=dtype, device=device)
                          for name in ("q", "k", "v", "o")})


class FastSlowLayer(nn.Module):
    """The coupled layer; ``attention`` is a contract kernel (default: the dense reference)."""

    def __init__(self, d_model: int, heads: int, block: int, *, read_rule: str = "complete",
                 attention=None, dtype=torch.float32, device=None):
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} is not a multiple of heads={heads}")
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        if read_rule not in READ_RULES:
            raise ValueError(f"unknown read rule {read_rule!r}; rules: {', '.join(READ_RULES)}")
        declared = getattr(attention, "attnspec", None)
        if declared is not None and not declared.get("causal"):
            raise ValueError("the attention kernel does not declare causal attention")
        if declared is not None and declared.get("layout") == "blhd":
            attention = from_blhd(attention)  # a [B, L, H, D] kernel, seen as [B, H, L, D]
        self.d_model, self.heads, self.block, self.read_rule = d_model, heads, block, read_rule
        self.attention = attention or dense_attention
        self.fast = _projections(d_model, dtype, device)
        self.slow = _projections(d_model, dtype, device)
        self.gate = nn.Parameter(torch.zeros((), dtype=dtype, device=device))

    def _attend(self, proj: nn.ModuleDict, x: torch.Tensor, causal: bool) -> torch.Tensor:
        """[B, L, d] -> [B, L, d]: multi-head attention through the contract kernel."""
        B, L, d = x.shape
        H = self.heads

        def heads(t):  # [B, L, d] -> [B, H, L, d/H]
            return t.reshape(B, L, H, d // H).transpose(1, 2)

        o = self.attention(heads(proj["q"](x)), heads(proj["k"](x)), heads(proj["v"](x)),
                           causal=causal)  # [B, H, L, d/H]
        return proj["o"](o.transpose(1, 2).reshape(B, L, d))

    def fast_path(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, d]: causal attention over the T tokens."""
        return self._attend(self.fast, x, causal=True)

    def slow_path(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, d]: token t's read of the slow attention over pooled blocks (zero rows where
        the rule gives nothing to read)."""
        B, T, d = x.shape
        P = self.block
        pooled = block_mean(x, P, partial=self.read_rule == "own_block")  # [B, N, d]
        out = x.new_zeros(B, T, d)
        if pooled.shape[1] == 0:  # no block to read: the explicit zero, no kernel call
            return out
        blocks = self._attend(self.slow, pooled, causal=self.read_rule != "bidirectional")
        index = read_index(T, P, self.read_rule, x.device)  # [T]
        reads = index >= 0
        out[:, reads] = blocks[:, index[reads]]
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, d] -> [B, T, d]: fast(x) + gate * slow(x)."""
        return self.fast_path(x) + self.gate * self.slow_path(x)

    def flops(self, T: int, batch: int = 1) -> dict[str, dict[str, int]]:
        """FLOPs of each path on ``batch`` sequences of T tokens (flops.py)."""
        return layer_flops(T, self.block, self.d_model, batch)
