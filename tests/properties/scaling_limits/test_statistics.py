"""The statistical machinery of the laws: thresholds, the KS distance, the Bonferroni split."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import kstest

from attnspec.properties.engine.statistics import (Measurement, ks_distance, ks_threshold,
                                                  thresholded, z_measurement, z_threshold)
from attnspec.properties.scaling_limits.threshold_scaling import _line_root, _slope


def test_thresholds_at_one_in_a_million():
    assert z_threshold(1e-6) == pytest.approx(4.8916, abs=1e-4)  # the project's 4.89
    assert z_threshold(1e-6, 4) == pytest.approx(5.1577, abs=1e-4)
    # DKW-Massart: 2 exp(-2 N eps^2) = alpha
    eps = ks_threshold(1e-6, 2000)
    assert 2 * math.exp(-2 * 2000 * eps * eps) == pytest.approx(1e-6)


def test_ks_distance_equals_scipy_on_the_whole_line_and_restricts_to_a_half_line():
    x = np.random.default_rng(1).random(500)
    assert ks_distance(x, lambda w: min(max(w, 0.0), 1.0)) == pytest.approx(kstest(x, "uniform").statistic,
                                                                            abs=1e-15)
    # restricted sup: at most the full one, and exact on the part of the line it covers
    shifted = np.concatenate([x[x < 0.5] * 0.9, x[x >= 0.5]])  # mass moved below 0.5 only
    full = ks_distance(shifted, lambda w: min(max(w, 0.0), 1.0))
    upper = ks_distance(shifted, lambda w: min(max(w, 0.0), 1.0), lower=0.6)
    assert upper <= full and upper == pytest.approx(ks_distance(x, lambda w: w, lower=0.6))


def test_bonferroni_split_over_statistical_tests_only():
    ms = [z_measurement("a", [0.0, 1.0, 2.0], 1.0), Measurement("b", "ks", 0.01, samples=1000),
          Measurement("c", "exact", 1e-9, 1.0, tolerance=1e-6, value=1.0)]
    checks = thresholded(ms, 1e-6)
    assert checks[0].threshold == pytest.approx(z_threshold(1e-6, 2))
    assert checks[1].threshold == pytest.approx(ks_threshold(1e-6, 1000, 2))
    assert checks[2].threshold == 1e-6 and all(c.held for c in checks)
    nan = thresholded([z_measurement("nan", [math.nan, 1.0], 0.0)], 1e-6)[0]
    assert not nan.held  # a NaN statistic never holds


def test_line_root_and_slope_recover_exact_lines():
    o = [-0.3, -0.15, 0.0, 0.15, 0.3]
    x, var, b, _ = _line_root(o, [0.5 + 0.25 * (t - 0.07) for t in o], [0.01] * 5)
    assert x == pytest.approx(0.07) and b == pytest.approx(0.25)
    # delta method: Var x = Var(a)/b^2 at x = 0 (OLS: Var a = se^2 / G)
    _, var0, _, _ = _line_root(o, [0.5 + 0.25 * t for t in o], [0.01] * 5)
    assert var0 == pytest.approx(0.01 ** 2 / 5 / 0.25 ** 2)
    L = [math.log(n) for n in (1e3, 1e4, 1e5)]
    s, se = _slope(L, [2 + 0.5 * v for v in L], [1e-4] * 3)
    assert s == pytest.approx(0.5) and se == pytest.approx(1e-2 / math.sqrt(sum((v - sum(L) / 3) ** 2 for v in L)))
