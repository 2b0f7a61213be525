"""The error / tolerance ratio, with one rule for what is not finite.

Every property measures how far a kernel's value is from what the claim predicts, relative to
the tolerance the claim allows (<= 1 holds). One rule serves them all:

  * an error of 0 has ratio 0, whatever the tolerance (an exact match never fails);
  * a NaN error (a NaN where a number was due) counts as infinitely large;
  * a nonzero error against a tolerance of 0 or NaN is infinite (tolerances built from the
    kernel's own outputs are NaN when those outputs are);
  * the ratio is never NaN, so ``ratio > 1`` always decides.
"""

from __future__ import annotations

import math

import numpy as np

from attnspec.properties.engine.property import HOLDS, Outcome


def error_ratio(error, tolerance) -> np.ndarray:
    """|error| / tolerance elementwise under the rule above."""
    error = np.abs(np.asarray(error, dtype=np.float64))
    error = np.where(np.isnan(error), np.inf, error)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(error == 0, 0.0, error / tolerance)
    return np.where(np.isnan(ratio), np.inf, ratio)


def worst_element(error, tolerance, compare=None) -> tuple[float, tuple[int, ...]] | None:
    """(largest ratio, its index) over the elements where ``compare`` is True (default: all),
    or None when there is nothing to compare."""
    ratio = np.broadcast_to(error_ratio(error, tolerance),
                            np.broadcast_shapes(np.shape(error), np.shape(tolerance)))
    if compare is not None:
        compare = np.broadcast_to(compare, ratio.shape)
        if not compare.any():
            return None
        ratio = np.where(compare, ratio, -1.0)
    if ratio.size == 0:
        return None
    index = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    return float(ratio[index]), tuple(int(i) for i in index)


def format_index(index) -> str:
    """[1,0,3] from an index tuple (no np.int64 reprs in reports)."""
    return "[" + ",".join(str(int(i)) for i in index) + "]"


def ratio_outcome(error, tolerance, label: str, compare=None) -> Outcome:
    """The worst |error| / tolerance over ``compare`` as an Outcome that names the element:
    'label[i,j]: difference x vs tolerance y'."""
    found = worst_element(error, tolerance, compare)
    if found is None:
        return HOLDS
    ratio, index = found
    shape = np.broadcast_shapes(np.shape(error), np.shape(tolerance))
    difference = np.abs(np.broadcast_to(error, shape)[index])
    difference = math.inf if math.isnan(difference) else float(difference)
    return Outcome(ratio, f"{label}{format_index(index)}: difference {difference:.3g} vs "
                          f"tolerance {float(np.broadcast_to(tolerance, shape)[index]):.3g}")
