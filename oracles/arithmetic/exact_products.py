"""Exact matrix products over float64 BLAS by error-free splitting (Ozaki's scheme).

Claim: for float64 matrices A [m, k] (or a double-double A = hi + lo) and B [k, n],
:func:`level_products` returns float64 matrices L_2, ..., L_S ("levels"), each the EXACT sum of
the slice products of its level, possibly some further exact slice products ("extra"), and a
float64 ``tail`` with an elementwise bound such that

    | A @ B - (L_2 + ... + L_S + sum(extra) + tail) | <= tail_bound

whatever order, blocking or FMA use the BLAS has for its sums. When A and B are captured
exactly by nA and nB slices with nA + nB <= S (every slice product lies in a level), the tail
and its bound are exactly zero.

Sources: Ozaki, Ogita, Oishi, Rump, "Error-free transformations of matrix multiplication by
using fast routines of matrix multiplication and its applications", Numer. Algorithms 59
(2012) for the splitting; Higham, "Accuracy and Stability of Numerical Algorithms" (2nd ed.
2002), eq. (3.13): |fl(X Y) - X Y| <= gamma_k |X| |Y| with gamma_k = k u / (1 - k u), for any
order of summation, for the float64 tail.

Splitting (Ozaki et al. 2012, with round-to-nearest slices): A is split along its rows (row i
has its own scale 2^e_i >= max_k |A_ik|; axis=1), B along its columns (axis=0), or either with
one global scale (axis=None), into slices on fixed geometric grids g_a = 2^(e - a beta):
    A_a = RN(R_{a-1} / g_a) g_a,   R_a = R_{a-1} - A_a (exact),   R_0 = A,
evaluated as (R + s) - s with s = 1.5 * 2^52 g_a (exact: s + R stays in [2^52 g, 2^53 g), whose
ulp is g; the subtractions are exact by Sterbenz' lemma). Rounding to nearest gives
|R_a| <= g_a / 2, hence |A_1| <= 2^beta g_1 and |A_a| <= 2^(beta - 1) g_a for a >= 2.
A double-double input hi + lo carries lo as the exact two_sum partner E of the remainder:
(R, E) <- two_sum(R - A_a, E) after every slice, so R + E is always the exact remainder,
|E| <= u |R|, and the overshoot of R over g_a / 2 (at most u 2^beta g_a) stays below g_{a+1} / 2
because u 2^(2 beta) < 1: the slice bounds above still hold.

Levels: A_a B_b has integer entries in units of 2^(eA + eB - (a + b) beta); all products of
level s = a + b share that unit. The integer magnitude of a level sum (and of every partial
sum any BLAS forms while computing it) is at most k 2^(2 beta) (s = 2) or
k 2^(2 beta - 2) (s + 1) (s >= 3: two products with |A_1| or |B_1| and s - 3 others). While
that is <= 2^53 every such sum is an exactly representable float64; with
``difference_headroom`` the bound is 2^52, so that the difference of two entries of one row of
a level (same unit) is exact as well. :func:`slice_bits` gives the largest such beta.

Tail: everything of level > S, evaluated in float64:
    tail = sum_{a=1}^{nA} A_a @ Brem_{S-a}  +  Arem @ B,
with Brem_b = B - B_1 - ... - B_b (kept exactly from the splitting) and Arem the remainder of A
after its nA <= S - 1 slices (for a double-double A, its high part; the dropped low part is
<= u |Arem|). Bound: gamma_{P k + P} for the single GEMM of inner dimension P k (by level),
gamma_{k + P} for P GEMMs of inner dimension k summed in float64 (by slice), times
sum_p |X_p| |Y_p|, majorised by rank-one terms rowmax|X_p| (x) colsum|Y_p| whose row maxima are
known a priori from the grids (2^e, 2^(beta - 1) g_a, g_nA / 2 (1 + 2^-20)) or measured by the
caller (``part_maxima``, ``remainder_maximum``), plus u rowmax|Arem| (x) colsum|B| at full weight
for a dropped double-double low part. The bound is returned as its rank-one factors
(``bound_left`` [m, P], ``bound_right`` [P, n]) so that a caller can take row maxima without
forming an [m, n] array. Options (by slice): slices a in ``full`` are multiplied by all of B's
slices, exactly, the products beyond level S returned in ``extra`` (each an exact single slice
product, k 2^(2 beta) <= 2^53) so that A_a @ Brem leaves the tail; ``include_remainder=False``
leaves Arem @ B to the caller (who may split the remainder again on finer grids).

Domain: finite inputs, scaled by the caller (by powers of two, exactly) so that the grids
stay in the normal range; :func:`split_slices` checks. Shapes: [m, k] @ [k, n] -> [m, n].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from attnspec.oracles.arithmetic.double_double import U, two_sum

_SIGMA_FACTOR = 1.5 * 2.0**52
_ROUND_UP = 1 + 2.0**-40  # rounds a computed bound up past its own few float64 roundings


def gamma(n: int) -> float:
    """Higham's gamma_n = n u / (1 - n u), rounded up."""
    nu = n * U
    if nu >= 0.5:
        raise ValueError(f"gamma_{n} undefined: n u >= 1/2")
    return nu / (1 - nu) * _ROUND_UP


def slice_bits(inner: int, max_level: int, difference_headroom: bool = False) -> int:
    """The largest beta for which every level sum up to ``max_level`` is exact (module text):
    k 2^(2 beta) <= 2^T and k 2^(2 beta - 2) (max_level + 1) <= 2^T, T = 53 (52 with headroom)."""
    top = 52 if difference_headroom else 53
    lg = math.log2(max(inner, 1))
    b2 = (top - lg) / 2
    b3 = (top + 2 - lg - math.log2(max(max_level, 2) + 1)) / 2
    beta = int(math.floor(min(b2, b3)))
    if beta < 2:
        raise ValueError(f"inner dimension {inner} too large for exact slices")
    return beta


def scale_exponent(x: np.ndarray, axis: int | None) -> np.ndarray:
    """Integer-valued float64 e (keepdims along ``axis``; None: one global value) with
    max |x| <= 2^e; 0 where the maximum is 0."""
    m = np.max(np.abs(x), axis=axis, keepdims=True)
    _, e = np.frexp(m)  # m < 2^e
    return np.where(m > 0, e, 0).astype(np.float64)


@dataclass
class Slices:
    """Slices of a matrix on geometric grids 2^(exponent - a beta) (module docstring).

    parts[a - 1] is slice a. rems[b] is the remainder after b slices as float64 (exact for a
    float64 input; for a double-double input its dropped low part is <= u |rems[b]|); rems[0]
    is the input's high part. Only the remainders asked for are kept (keep_remainders).
    exact: the remainder after the last slice is exactly zero. For a double-double input
    the exact remainder after the last slice is rems[count] + rem_lo.
    """

    parts: list[np.ndarray]
    rems: dict[int, np.ndarray]
    exponent: np.ndarray
    beta: int
    axis: int | None
    double_double: bool
    exact: bool
    rem_lo: np.ndarray | None = None  # the last remainder's low part (double-double input)
    part_maxima: list[np.ndarray] | None = None  # measured max |slice a| (same shape as exponent)
    remainder_maximum: np.ndarray | None = None  # measured max |last remainder|
    # side-by-side copies of this (right) factor's slices, reused across calls
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    def concat(self, key: tuple, axis: int, keep: bool = True) -> np.ndarray:
        """The arrays named by key (slice numbers b >= 1, or ("rem", b) for the remainder after
        b slices, or "full" for the input) side by side along ``axis``; cached if ``keep``."""
        ck = (key, axis)
        out = self.cache.get(ck)
        if out is None:
            arrays = []
            for item in key:
                if item == "full":
                    arrays.append(self.rems[0])
                elif isinstance(item, tuple):
                    arrays.append(self.rems[item[1]])
                else:
                    arrays.append(self.parts[item - 1])
            out = arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=axis)
            if keep:
                self.cache[ck] = out
        return out

    @property
    def count(self) -> int:
        return len(self.parts)

    def part_max(self, a: int) -> np.ndarray:
        """Bound on |slice a| (broadcasts like ``exponent``): measured if known, else a priori."""
        if self.part_maxima is not None:
            return self.part_maxima[a - 1]
        e = self.exponent - a * self.beta
        return np.ldexp(1.0, (e + (self.beta if a == 1 else self.beta - 1)).astype(np.int64))

    def truncated(self, n: int) -> "Slices":
        """The same splitting stopped after at most n slices (needs kept remainders)."""
        if n >= self.count:
            return self
        if n not in self.rems:
            raise ValueError("remainder not kept; split with keep_remainders=True")
        key = ("truncated", n)
        if key not in self.cache:
            rems = {b: r for b, r in self.rems.items() if b <= n}
            self.cache[key] = Slices(self.parts[:n], rems, self.exponent, self.beta, self.axis,
                                     self.double_double, False, None)
        return self.cache[key]

    def remainder_max(self) -> np.ndarray:
        """Bound on |remainder after the last slice| (0 if exact): measured if known (its
        dropped low part is then covered by the u at full weight of level_products), else a
        priori."""
        if self.exact:
            return np.zeros_like(self.exponent)
        if self.remainder_maximum is not None:
            return self.remainder_maximum
        e = self.exponent - self.count * self.beta
        half_grid = np.ldexp(0.5, e.astype(np.int64))
        return half_grid * (1 + 2.0**-20) if self.double_double else half_grid


def split_slices(
    hi: np.ndarray,
    lo: np.ndarray | None = None,
    *,
    axis: int | None,
    beta: int,
    max_slices: int,
    keep_remainders: bool = True,
    exponent: np.ndarray | None = None,
) -> Slices:
    """Split hi (+ lo) into at most ``max_slices`` slices; stop early once the remainder is 0.

    axis=1: one scale per row (a left factor); axis=0: per column (a right factor);
    axis=None: one global scale. ``exponent`` overrides the computed scale (must satisfy
    max |hi| <= 2^exponent along ``axis``)."""
    if exponent is None:
        exponent = scale_exponent(hi, axis)
    if max_slices >= 1:
        top = np.max(exponent) - beta
        bottom = np.min(exponent) - max_slices * beta
        if bottom < -1020 or top > 968:
            raise ValueError("slice grids leave the normal float64 range; scale the input first")
    parts: list[np.ndarray] = []
    rems = {0: hi}
    r, e = hi, lo
    exact = not np.any(r) and (e is None or not np.any(e))
    for a in range(1, max_slices + 1):
        if exact:
            break
        sigma = np.ldexp(_SIGMA_FACTOR, (exponent - a * beta).astype(np.int64))
        part = (r + sigma) - sigma
        r = r - part
        if e is not None:
            r, e = two_sum(r, e)
        parts.append(part)
        exact = not np.any(r) and (e is None or not np.any(e))
        if keep_remainders:
            rems[a] = r
    rems[len(parts)] = r
    return Slices(parts, rems, exponent, beta, axis, lo is not None, exact, e)


@dataclass
class LevelProducts:
    """A @ B = sum(levels) + sum(extra) + tail, |error| <= bound_left @ bound_right; levels[0]
    is level 2; extra holds exact slice products beyond the last level (``full`` slices)."""

    levels: list[np.ndarray]
    tail: np.ndarray
    bound_left: np.ndarray  # [m, P]
    bound_right: np.ndarray  # [P, n]
    extra: list[np.ndarray] = field(default_factory=list)  # exact products beyond the levels

    def tail_bound(self) -> np.ndarray:
        """[m, n] elementwise bound on the tail's error (rank-P product, rounded up)."""
        if self.bound_left.shape[1] == 0:
            return np.zeros((self.bound_left.shape[0], self.bound_right.shape[1]))
        return (self.bound_left @ self.bound_right) * (1 + gamma(self.bound_left.shape[1] + 1))

    def tail_bound_rows(self) -> np.ndarray:
        """[m, 1]: the largest tail bound in each row."""
        if self.bound_left.shape[1] == 0:
            return np.zeros((self.bound_left.shape[0], 1))
        return np.sum(
            self.bound_left * np.max(self.bound_right, axis=1)[None, :], axis=1, keepdims=True
        ) * (1 + gamma(self.bound_left.shape[1] + 1))

    def total(self) -> np.ndarray:
        """sum(levels) + tail in float64 (an approximation of A @ B, for tests)."""
        out = self.tail.copy()
        for term in self.extra[::-1] + self.levels[::-1]:
            out += term
        return out


def level_products(
    A: Slices,
    B: Slices,
    max_level: int,
    *,
    by: str = "level",
    include_remainder: bool = True,
    full: frozenset[int] = frozenset(),
) -> LevelProducts:
    """Levels L_2..L_max_level and tail of A @ B (module docstring).

    A must have been split with axis=1 or None and at most max_level - 1 slices; B with axis=0
    or None, keep_remainders=True and a float64 input (any number of slices: those beyond level
    max_level go into the tail through B's remainders).
    by="level": one GEMM per level, the level's slices side by side along the inner
    dimension (each output written once: for large outputs such as Q K^T).
    by="slice": one GEMM per slice of A against the slices of B it needs, side by side along
    the columns (for a large A and a small output, such as P V).
    include_remainder=False leaves A's remainder out of the tail (and of its bound): the caller
    multiplies it separately (e.g. by splitting it again on its own, finer grids).
    full (by="slice" only): slices a of A multiplied by ALL slices of B, exactly: the products
    beyond level max_level are returned unsummed in ``extra`` (each exact) instead of going
    through the float64 tail. For slices that carry an output's scale although they are far
    below the row's largest entry.
    """
    if A.beta != B.beta:
        raise ValueError("A and B must be split with the same beta")
    if B.double_double:
        raise ValueError("the right factor must be float64")
    if A.count > max_level - 1:
        raise ValueError("split A with at most max_level - 1 slices")
    if full and by != "slice":
        raise ValueError("full slices need by='slice'")
    k = A.rems[0].shape[1]
    if A.beta > slice_bits(k, max_level):
        raise ValueError(f"beta={A.beta} too large for exact levels up to {max_level} at k={k}")
    m, n = A.rems[0].shape[0], B.rems[0].shape[1]
    B_full = B.rems[0]
    nA, nB = A.count, B.count
    levels = [np.zeros((m, n)) for _ in range(max_level - 1)]
    extra: list[np.ndarray] = []

    # tail pieces (x, y, key of y) with tail += x @ y, and bounds on the row maxima of |x|
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray, object]] = []
    for a in range(1, nA + 1):
        b = nB if a in full else max_level - a
        if b < nB or not B.exact:
            y = B.rems[min(b, nB)]
            pieces.append((A.parts[a - 1], y, A.part_max(a), ("rem", min(b, nB))))
    if not A.exact and include_remainder:
        pieces.append((A.rems[nA], B_full, A.remainder_max(), "full"))

    tail = np.zeros((m, n))
    if by == "level":
        for s in range(2, max_level + 1):
            pairs = [(a, s - a) for a in range(1, s) if a <= nA and s - a <= nB]
            if not pairs:
                continue
            if len(pairs) == 1:
                a, b = pairs[0]
                levels[s - 2] = A.parts[a - 1] @ B.parts[b - 1]
            else:
                left = np.concatenate([A.parts[a - 1] for a, _ in pairs], axis=1)
                right = B.concat(tuple(b for _, b in pairs), axis=0)
                levels[s - 2] = left @ right
        if pieces:
            left = np.concatenate([x for x, _, _, _ in pieces], axis=1)
            right = B.concat(tuple(key for _, _, _, key in pieces), axis=0)
            tail = left @ right
    elif by == "slice":
        for a in range(1, nA + 1):
            last = nB if a in full else max_level - a
            b_top = min(nB, last)
            blocks = list(range(1, b_top + 1))
            has_tail = last < nB or not B.exact
            if has_tail:
                blocks.append(("rem", min(last, nB)))
            if not blocks:
                continue
            # (not cached: the P V caller has few, large chunks; K^T's level blocks are cached)
            prod = A.parts[a - 1] @ B.concat(tuple(blocks), axis=1, keep=False)
            for b in range(1, b_top + 1):
                block = prod[:, (b - 1) * n : b * n]  # exact: one slice pair
                if a + b <= max_level:
                    levels[a + b - 2] += block  # exact (module text)
                else:
                    extra.append(block)
            if has_tail:
                tail += prod[:, b_top * n :]
        if not A.exact and include_remainder:
            tail += A.rems[nA] @ B_full
    else:
        raise ValueError(f"by must be 'level' or 'slice', got {by!r}")

    P = len(pieces)
    left = np.zeros((m, P))
    right = np.zeros((P, n))
    if P:
        # one GEMM of inner dimension P k (by level) or P GEMMs of k, summed (by slice)
        g = gamma(P * k + P) if by == "level" else gamma(k + P)
        for p, (x, y, xmax, ykey) in enumerate(pieces):
            colsum = B.cache.get(("colsum", ykey))
            if colsum is None:
                colsum = B.cache[("colsum", ykey)] = np.sum(np.abs(y), axis=0) * (1 + gamma(k))
            weight = g
            if A.double_double and y is B_full:
                weight = g + U * (1 + g)  # the remainder's dropped low part, at full weight
            left[:, p] = np.broadcast_to(xmax * weight, (m, 1))[:, 0]
            right[p, :] = colsum
        left *= _ROUND_UP
    return LevelProducts(levels, tail, left, right, extra)
