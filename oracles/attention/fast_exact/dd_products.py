"""Double-double matrix times float64 matrix, with an elementwise error bound (tier-2 gradients).

Claim: for a double-double matrix A = Ah + Al [m, k] (normalised elementwise, |Al| <= u |Ah|)
and a float64 matrix B [k, n], :func:`product_dd` returns Ch + Cl [m, n] and a float64 ``err``
with, elementwise,

    | Ch + Cl - A B | <= err,
    err = tail_bound + ADD_D (1 + 4u) sum_t |acc_t|,

where tail_bound is exact_products.level_products' bound on its float64 tail and the second
term the roundings of summing the exact levels into a double-double (DWPlusFP, JMP 2017
Alg. 4, relative error <= ADD_D of each partial sum acc_t, counted a posteriori).

How (Ozaki, Ogita, Oishi, Rump, Numer. Algorithms 59 (2012), through exact_products.py):
- A is cut into S - 1 slices on per-row grids 2^(e_i - a beta) (:func:`split_dd_block_into`,
  row block by row block, in place, with the low part folded into the remainder by two_sum as
  exact_products.split_slices does; the per-row exponent e_i >= log2 max_j |Ah_ij| may be raised,
  never lowered: :func:`grid_exponents`). A "row" is a row of whatever matrix is the left factor:
  the same [R, Lk] array is split on row grids for dR K and on column grids for dR^T Q (a grid
  per column j is a grid per row of the transposed left factor).
- B is split per column (axis=0) by exact_products.split_slices, with the column exponents
  raised where needed to keep every grid in the normal range (:func:`right_factor`).
- exact_products.level_products(by="slice") returns the exact levels L_2..L_S and the float64
  tail with its rank-one bound; the bound uses a-priori maxima of the slices of A (|A_1| <=
  2^e, |A_a| <= 2^(e - (a-1) beta - 1) for a >= 2, |remainder| <= 2^(e - (S-1) beta - 1)
  (1 + 2^-20): exact_products' module text), multiplied by 0 on rows of A that are exactly 0
  (their products are exactly 0, so a zero row of A gives a zero row of C and of err).
- :func:`choose_levels` picks the smallest S in 3..7 whose a-priori tail bound (the same
  formula level_products applies) is within a target everywhere (gradients.py: 2^-100 of the
  natural scale); S = 7 where none is.
- the levels are summed smallest first into a double-double (tail, then levels S..2).

Grids stay in the normal range (exact_products' domain): exponents are raised to at least
-1018 + (slices) beta. A row or column whose largest entry lies below that (about 2^-860 of the
matrices' largest here, as the callers normalise their operands) is then split on a coarser
grid than its own: still exact and bounded, with less relative accuracy (the callers' floor).

Sources: Ozaki et al. 2012 and Higham, "Accuracy and Stability of Numerical Algorithms"
(2002), eq. (3.13), through exact_products.py; Knuth's two_sum and JMP 2017 (DWPlusFP) through
double_double.py.
"""

from __future__ import annotations

import numpy as np

from attnspec.oracles.arithmetic.double_double import ADD_D, U, dd_add_d, two_sum_into
from attnspec.oracles.arithmetic.exact_products import (
    Slices,
    gamma,
    level_products,
    scale_exponent,
    split_slices,
)

LEVELS = (3, 4, 5, 6, 7)  # candidate numbers of levels S (S - 1 slices of A)
MAX_B_SLICES = max(LEVELS) - 1
_SIGMA_FACTOR = 1.5 * 2.0**52  # exact_products' rounding constant
_ROUND_UP = 1 + 2.0**-40  # as exact_products: past the few roundings of a computed bound


def lowest_exponent(beta: int, slices: int) -> float:
    """The smallest grid exponent that keeps ``slices`` slices of width beta at or above
    2^-1018 (split_slices' range check asks for -1020)."""
    return float(-1018 + slices * beta)


def grid_exponents(max_abs: np.ndarray, beta: int, slices: int) -> np.ndarray:
    """Grid exponents e (float64, integer-valued) with max_abs < 2^e, raised to at least
    lowest_exponent(beta, slices); 0 where max_abs is 0."""
    _, e = np.frexp(max_abs)
    e = e.astype(np.float64)
    e = np.maximum(e, lowest_exponent(beta, slices))
    return np.where(max_abs > 0, e, 0.0)


def sigmas(exponent: np.ndarray, beta: int, slices: int) -> list[np.ndarray]:
    """The rounding constants 1.5 * 2^52 * 2^(e - a beta), a = 1..slices (exact_products)."""
    return [np.ldexp(_SIGMA_FACTOR, (exponent - a * beta).astype(np.int64))
            for a in range(1, slices + 1)]


def split_dd_block_into(hi, lo, sig, parts, rem, scratch):
    """Slices of hi + lo on the grids of ``sig`` (exact_products.split_slices' arithmetic for a
    double-double input, in place): parts[a] <- slice a + 1, rem <- the remainder's high part.

    hi, lo: [n, Lk] blocks (not modified); sig: broadcastable to them ([n, 1] for row grids,
    [1, Lk] for column grids); parts, rem: [n, Lk] views to write; scratch: four [n, Lk] arrays.
    Each slice (r + s) - s is exact (s + r stays in [2^52 g, 2^53 g)), r - slice is exact
    (Sterbenz), and two_sum folds the low part into the remainder exactly: the remainder's
    exact value is rem + its dropped low part, |low| <= u |rem| (two_sum's error term)."""
    R, E, S, T = scratch[:4]
    r, e = hi, lo
    for sg, part in zip(sig, parts):
        np.add(r, sg, out=part)
        part -= sg
        np.subtract(r, part, out=S)
        two_sum_into(S, e, R, E, T)  # R + E = the exact remainder (E may be e itself)
        r, e = R, E
    np.copyto(rem, r)


def apriori_maxima(exponent: np.ndarray, nonzero: np.ndarray, beta: int, slices: int):
    """Bounds on |slice a| (a = 1..slices) and on the remainder's high part, per row of the left
    factor (exact_products' module text; (1 + 2^-20) for the double-double remainder's
    overshoot), times 0 on rows that are exactly 0."""
    z = nonzero.astype(np.float64)
    e = exponent.astype(np.int64)
    parts = [np.ldexp(1.0, e) * z]
    parts += [np.ldexp(1.0, e - (a - 1) * beta - 1) * z for a in range(2, slices + 1)]
    rem = np.ldexp(0.5, e - slices * beta) * (1 + 2.0**-20) * z
    return parts, rem


def left_slices(parts, rem, shape_of, exponent, nonzero, beta) -> Slices:
    """The Slices object level_products takes for a double-double left factor split by
    split_dd_block_into: ``parts`` [m, k] each, ``rem`` the remainder's high part, ``shape_of``
    the input's high part (read for its shape), ``exponent`` and ``nonzero`` [m, 1]."""
    pmax, rmax = apriori_maxima(exponent, nonzero, beta, len(parts))
    return Slices(list(parts), {0: shape_of, len(parts): rem}, exponent, beta, 1, True, False,
                  None, pmax, rmax)


def right_factor(B: np.ndarray, beta: int) -> Slices:
    """B [k, n] split per column (axis=0) into up to MAX_B_SLICES slices, remainders kept, the
    column exponents raised so that every grid stays normal (grid_exponents)."""
    e = grid_exponents(np.max(np.abs(B), axis=0, keepdims=True), beta, MAX_B_SLICES)
    e = np.maximum(e, scale_exponent(B, 0))
    return split_slices(B, axis=0, beta=beta, max_slices=MAX_B_SLICES, exponent=e)


def _colsum(B: Slices, key) -> np.ndarray:
    """sum_rows |y| (1 + gamma_k) for y = B's remainder ``key`` (level_products' cached value)."""
    c = B.cache.get(("colsum", key))
    if c is None:
        y = B.rems[0] if key == "full" else B.rems[key[1]]
        k = B.rems[0].shape[0]
        c = B.cache[("colsum", key)] = np.sum(np.abs(y), axis=0) * (1 + gamma(k))
    return c


def apriori_tail_bound(exponent, nonzero, beta, B: Slices, S: int) -> np.ndarray:
    """[m, n]: the bound level_products(by="slice") will put on the tail of A B with S levels,
    for a double-double A split on grids ``exponent`` into S - 1 slices (apriori_maxima)."""
    k = B.rems[0].shape[0]
    pmax, rmax = apriori_maxima(exponent, nonzero, beta, S - 1)
    pieces = []
    for a in range(1, S):
        b = S - a
        if b < B.count or not B.exact:
            pieces.append((pmax[a - 1], _colsum(B, ("rem", min(b, B.count))), False))
    pieces.append((rmax, _colsum(B, "full"), True))
    P = len(pieces)
    g = gamma(k + P)
    m = exponent.shape[0]
    left = np.zeros((m, P))
    right = np.zeros((P, B.rems[0].shape[1]))
    for p, (xmax, colsum, full) in enumerate(pieces):
        left[:, p] = np.broadcast_to(xmax, (m, 1))[:, 0] * (g + U * (1 + g) if full else g)
        right[p] = colsum
    return (left * _ROUND_UP) @ right * (1 + gamma(P + 1))


def choose_levels(exponent, nonzero, beta, B: Slices, target: np.ndarray) -> int:
    """Smallest S in LEVELS with apriori_tail_bound <= target everywhere (else the largest)."""
    for S in LEVELS:
        if S == LEVELS[-1] or np.all(apriori_tail_bound(exponent, nonzero, beta, B, S) <= target):
            return S
    raise AssertionError  # pragma: no cover


def product_dd(A: Slices, B: Slices, S: int):
    """(Ch, Cl, err): A B as a double-double with its elementwise bound (module docstring)."""
    lp = level_products(A, B, S, by="slice")
    terms = [lp.tail, *lp.extra[::-1], *lp.levels[::-1]]  # smallest first
    acc_h = terms[0]
    acc_l = np.zeros_like(acc_h)
    acc_abs = np.zeros_like(acc_h)
    for L in terms[1:]:
        acc_h, acc_l = dd_add_d(acc_h, acc_l, L)
        acc_abs += np.abs(acc_h)
    err = acc_abs * (ADD_D * (1 + 4 * U)) + lp.tail_bound()
    return acc_h, acc_l, err
