"""Which inputs token t of the coupled layer's slow path may read, under each read rule.

Claims (docs/claims.md section 4; [D]): with block P, block b holds tokens bP .. bP + P - 1,
and is complete at token t iff bP + P - 1 <= t. The slow path reads pooled blocks through a
slow attention over blocks; token t reads one row of it.

    "complete"       (causal) token t reads row b* = floor((t + 1)/P) - 1, the last complete
                     block, of a slow attention causal over blocks: input tokens
                     0 .. (b* + 1) P - 1 = P floor((t + 1)/P) - 1, all <= t. No complete block
                     (t <= P - 2): nothing is read and the output is an explicit zero.
    "own_block"      token t reads row floor(t/P), its own block pooled over all of its tokens
                     present: tokens 0 .. min(T, P (floor(t/P) + 1)) - 1, beyond t unless t
                     closes its block: a leak.
    "bidirectional"  row b* as in "complete", of a slow attention over all complete blocks:
                     tokens 0 .. P floor(T/P) - 1 for every t >= P - 1: a leak.

Returns Python ranges of input token indices (the read set), independent of the kernel.
Domain: T >= 1, P >= 1, 0 <= t < T.
"""

from __future__ import annotations

RULES = ("complete", "own_block", "bidirectional")
CAUSAL_RULES = ("complete",)


def last_complete_block(t: int, P: int) -> int:
    """b* = floor((t + 1)/P) - 1; -1 when no block is complete at token t."""
    return (t + 1) // P - 1


def slow_read_set(t: int, T: int, P: int, rule: str = "complete") -> range:
    """The input tokens that token t's slow-path output depends on, under ``rule``."""
    if not 0 <= t < T or P < 1:
        raise ValueError(f"need 0 <= t < T and P >= 1, got t={t}, T={T}, P={P}")
    if rule == "complete":
        return range(P * ((t + 1) // P))
    if rule == "own_block":
        return range(min(T, P * (t // P + 1)))
    if rule == "bidirectional":
        return range(P * (T // P)) if last_complete_block(t, P) >= 0 else range(0)
    raise ValueError(f"unknown read rule {rule!r}; rules: {', '.join(RULES)}")


def layer_read_set(t: int, T: int, P: int, rule: str = "complete") -> range:
    """The whole layer's read set for token t: the fast path's 0 .. t, joined with the slow
    path's (the gate nonzero)."""
    slow = slow_read_set(t, T, P, rule)
    return range(max(t + 1, slow.stop))


def leaks(T: int, P: int, rule: str) -> bool:
    """Whether some token's slow read set reaches beyond it (some s > t is read) [D]."""
    return any(slow_read_set(t, T, P, rule).stop > t + 1 for t in range(T))
