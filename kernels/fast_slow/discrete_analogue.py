"""The discrete block-pooled analogue of the fast-slow system, run token by token.

The recursion ([D], oracles/fast_slow/block_pooled.py states it and its prediction): a fast
distribution x moved by one step of the Markov kernel K(y) = I + tau Q(y) per token, and a slow
state y moved by g(xbar, y) / P per token, where xbar is the mean of x over the last complete
block (the coupled layer's causal read rule, pooling.read_index; zero while no block is
complete). eps = 1/P.

Plain Python floats: the state is a handful of numbers and the loop is sequential, so tensors
would only add per-operation overhead; the rule is the layer's own (read_index), run on CPU.
Returns every token's x_t and y_t (lists), for t = 0 .. tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from attnspec.kernels.fast_slow.pooling import read_index


@dataclass(frozen=True)
class AnalogueRun:
    """x[t] (a tuple per token), y[t], and the slow velocity v[t] = P (y[t+1] - y[t])."""

    P: int
    tau: float
    x: tuple
    y: tuple
    v: tuple


def run_analogue(Q_of_y: Callable, g: Callable, P: int, tau: float, x0: Sequence[float],
                 y0: float, tokens: int) -> AnalogueRun:
    """Run ``tokens`` steps of the analogue from (x0, y0). Q_of_y(y) is an n x n nested
    sequence of floats (a rate matrix); g(x, y) a float."""
    n = len(x0)
    index = read_index(tokens, P, "complete", "cpu").tolist()
    x, y = [float(c) for c in x0], float(y0)
    xs, ys, vs = [tuple(x)], [y], []
    block_sums: list[list[float]] = []  # sums of x over each completed block
    running = [0.0] * n
    for t in range(tokens):
        running = [running[i] + x[i] for i in range(n)]
        if (t + 1) % P == 0:  # token t closes block (t + 1)/P - 1
            block_sums.append(running)
            running = [0.0] * n
        b = index[t]
        xbar = [s / P for s in block_sums[b]] if b >= 0 else [0.0] * n
        v = g(xbar, y)
        Q = Q_of_y(y)
        x = [x[j] + tau * sum(Q[i][j] * x[i] for i in range(n)) for j in range(n)]  # x^T (I + tau Q)
        y = y + v / P
        xs.append(tuple(x))
        ys.append(y)
        vs.append(v)
    return AnalogueRun(P, tau, tuple(xs), tuple(ys), tuple(vs))
