"""The ratio estimator of ALiBi attention, its exact error identity and a uniform certificate.

Claims (docs/claims.md section 2; [D]; the estimator's form [C]: the authors' validation code
computes softmax(S + log Mbar) V, which is this ratio):

- Estimator. With W_ij = exp(s_ij) (scores without the bias), Mbar the mean of the sampled
  masks and P = exp(B) the multiplicative ALiBi matrix, both restricted to the visible keys:
      exact  y_i      = sum_j W_ij P_ij v_j / sum_j W_ij P_ij      (ALiBi attention)
      ratio  ytilde_i = sum_j W_ij Mbar_ij v_j / sum_j W_ij Mbar_ij
  (per mask and block plain attention, merged across masks with log-sum-exp weights, computes
  ytilde exactly: the numerator and denominator are sums over masks of per-mask sums).
- Exact error identity: ytilde_i - y_i = sum_j W_ij E_ij (v_j - y_i) / sum_j W_ij Mbar_ij,
  E = Mbar - P. (sum_j W_ij Mbar_ij (v_j - y_i) / sum_j W_ij Mbar_ij = ytilde_i - y_i, and
  sum_j W_ij P_ij (v_j - y_i) = 0 by the definition of y_i.)
- Certificate, uniform over all Q, K, V with given score range and value diameter: y_i is a convex
  combination of the visible v_j, so |v_jc - y_ic| <= diam_c; bounding W_ij above by its row
  maximum in the numerator and below by its row minimum in the denominator,
      |ytilde_ic - y_ic| <= e^(R_i) diam(V) kappa_i,  kappa_i = sum_j |E_ij| / sum_j Mbar_ij,
  R_i = max_j s_ij - min_j s_ij over the visible keys of row i, diam(V) = max_c (max_j v_jc -
  min_j v_jc) over them (or over all keys: larger, still valid). kappa_i needs only the masks.
- LSE certificate: the estimator's lse_i = log sum_j W_ij Mbar_ij (the log-sum-exp merge of the
  masks' per-block lse, less log s) and ALiBi's log sum_j W_ij P_ij differ by -log(1 - x_i),
  x_i = sum_j W_ij E_ij / sum_j W_ij Mbar_ij, |x_i| <= e^(R_i) kappa_i; so
      |lse~_i - lse_i| <= -log(1 - e^(R_i) kappa_i)  when e^(R_i) kappa_i < 1 (else no bound).

Domain: scores finite; Mbar_ii > 0 on every row with a visible key (every mask holds its
diagonal; for a query row i of a contract problem the diagonal key is i + Lk - Lq). Shapes:
rows = queries [Lq], columns = keys [Lk], values [Lk, Dv].
Precision: certificate_kappa and certificate_bound return float64 upper bounds of the exact
expressions of their float64 arguments (their rounding is covered by a factor 1 + c n u,
u = 2^-53); the error identity comes in float64 and in mpmath (exact to ``dps`` digits).
"""

from __future__ import annotations

import numpy as np
from mpmath import mp

UNIT_ROUNDOFF = 2.0 ** -53


def certificate_kappa(mbar: np.ndarray, p: np.ndarray) -> np.ndarray:
    """kappa float64 [rows] = sum_j |Mbar_ij - P_ij| / sum_j Mbar_ij, rounded upward.

    ``mbar`` and ``p`` [rows, keys] are already restricted to the visible keys (zero elsewhere).
    A row with sum_j Mbar_ij = 0 gets 0 if it also has P = 0 (an empty row: both outputs are 0),
    else inf. Rounding: the n - 1 additions of each sum, the subtractions and the division move
    the quotient by a relative (2n + 3) u at most (Higham's gamma_n, n u < 0.01), so the result
    is multiplied by 1 + (2n + 4) u and rounded.
    """
    mbar = np.asarray(mbar, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    deviation = np.abs(mbar - p).sum(axis=-1)
    mass = mbar.sum(axis=-1)
    n = mbar.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = deviation / mass * (1.0 + (2 * n + 4) * UNIT_ROUNDOFF)
    kappa = np.where(mass > 0, kappa, np.where(deviation > 0, np.inf, 0.0))
    return kappa


def certificate_bound(score_range, value_diameter, kappa) -> np.ndarray:
    """e^(R_i) * diam(V) * kappa_i, elementwise (broadcast), float64, rounded upward.

    A zero kappa or diameter gives 0 whatever e^R is (no error is possible). The three roundings
    and numpy's exp (< 1 ulp) are covered by a factor 1 + 8 u.
    """
    score_range = np.asarray(score_range, dtype=np.float64)
    value_diameter = np.asarray(value_diameter, dtype=np.float64)
    kappa = np.asarray(kappa, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        bound = np.exp(score_range) * value_diameter * kappa * (1.0 + 8 * UNIT_ROUNDOFF)
    return np.where((kappa == 0) | (value_diameter == 0), 0.0, bound)


def lse_certificate_bound(score_range, kappa) -> np.ndarray:
    """-log(1 - e^(R_i) kappa_i) >= |lse~_i - lse_i|, elementwise float64, rounded upward; inf where
    e^(R_i) kappa_i >= 1. (log1p and exp within an ulp or two: covered by a factor 1 + 8 u on x
    and on the result.)"""
    score_range = np.asarray(score_range, dtype=np.float64)
    kappa = np.asarray(kappa, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        x = np.exp(score_range) * kappa * (1.0 + 8 * UNIT_ROUNDOFF)
        bound = -np.log1p(-np.minimum(x, 1.0)) * (1.0 + 8 * UNIT_ROUNDOFF)
    return np.where(kappa == 0, 0.0, np.where(x < 1.0, bound, np.inf))


def score_range(scores: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """R_i = max_j s_ij - min_j s_ij over the visible keys of each row, float64 [rows] (0 if none).

    float64 subtraction rounds to nearest: the result is within half an ulp of the exact range.
    """
    scores = np.asarray(scores, dtype=np.float64)
    high = np.where(visible, scores, -np.inf).max(axis=-1)
    low = np.where(visible, scores, np.inf).min(axis=-1)
    return np.where(visible.any(axis=-1), high - low, 0.0)


def value_diameter(values: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """diam_i = max_c (max_j v_jc - min_j v_jc) over the visible keys j of each row, float64 [rows].

    values [keys, Dv], visible bool [rows, keys].
    """
    values = np.asarray(values, dtype=np.float64)
    v = values[None, :, :]
    seen = visible[:, :, None]
    spread = np.where(seen, v, -np.inf).max(axis=1) - np.where(seen, v, np.inf).min(axis=1)
    return np.where(visible.any(axis=-1), spread.max(axis=-1, initial=0.0), 0.0)


def ratio_estimate(scores: np.ndarray, weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """sum_j e^(s_ij) G_ij v_j / sum_j e^(s_ij) G_ij, float64 [rows, Dv], for G = Mbar or P.

    Shifted by each row's largest score over the keys with G > 0 (no overflow); rows with no
    such key give 0.
    """
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    active = weights > 0
    top = np.where(active, scores, -np.inf).max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    w = np.where(active, np.exp(scores - top) * weights, 0.0)
    mass = w.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (w @ np.asarray(values, dtype=np.float64)) / mass
    return np.where(mass > 0, out, 0.0)


def ratio_estimator_error_identity(scores: np.ndarray, mbar: np.ndarray, p: np.ndarray,
                                   values: np.ndarray) -> np.ndarray:
    """The identity's right side sum_j W E (v_j - y_i) / sum_j W Mbar, float64 [rows, Dv].

    W is shifted by each row's largest score over the keys with Mbar > 0 or P > 0 (a common
    factor of numerator and denominator). Equal to ratio_estimate(scores, mbar, values) -
    ratio_estimate(scores, p, values) up to rounding; formed without that cancellation.
    """
    scores = np.asarray(scores, dtype=np.float64)
    mbar = np.asarray(mbar, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    exact = ratio_estimate(scores, p, values)  # y [rows, Dv]
    active = (mbar > 0) | (p > 0)
    top = np.where(active, scores, -np.inf).max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    w = np.where(active, np.exp(scores - top), 0.0)
    numerator = np.einsum("ij,ijc->ic", w * (mbar - p), values[None, :, :] - exact[:, None, :])
    mass = (w * mbar).sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mass > 0, numerator / mass, 0.0)


def lse_error_mp(scores, mbar, p, dps: int = 50):
    """log sum_j W_ij Mbar_ij - log sum_j W_ij P_ij per row, mpmath (rows need Mbar > 0 and P > 0)."""
    scores, mbar, p = (np.asarray(a, dtype=np.float64) for a in (scores, mbar, p))
    with mp.workdps(dps + 10):
        out = []
        for i in range(scores.shape[0]):
            w = [mp.exp(mp.mpf(x)) for x in scores[i]]
            out.append(mp.log(mp.fsum(a * mp.mpf(b) for a, b in zip(w, mbar[i])))
                       - mp.log(mp.fsum(a * mp.mpf(b) for a, b in zip(w, p[i]))))
    return out


def ratio_estimator_error_mp(scores, mbar, p, values, dps: int = 50):
    """Both sides of the identity in mpmath from float64 inputs: (ytilde - y, right side), each a
    list of rows of mpf [rows][Dv], exact to ``dps`` digits. Rows need a key with Mbar > 0 and
    one with P > 0."""
    scores, mbar, p, values = (np.asarray(a, dtype=np.float64) for a in (scores, mbar, p, values))
    rows, keys = scores.shape
    dv = values.shape[1]
    with mp.workdps(dps + 10):
        lhs, rhs = [], []
        for i in range(rows):
            w = [mp.exp(mp.mpf(scores[i, j])) for j in range(keys)]
            wm = [w[j] * mp.mpf(mbar[i, j]) for j in range(keys)]
            wp = [w[j] * mp.mpf(p[i, j]) for j in range(keys)]
            mass_m, mass_p = mp.fsum(wm), mp.fsum(wp)
            y = [mp.fsum(wp[j] * mp.mpf(values[j, c]) for j in range(keys)) / mass_p for c in range(dv)]
            ytilde = [mp.fsum(wm[j] * mp.mpf(values[j, c]) for j in range(keys)) / mass_m
                      for c in range(dv)]
            lhs.append([ytilde[c] - y[c] for c in range(dv)])
            rhs.append([mp.fsum((wm[j] - wp[j]) * (mp.mpf(values[j, c]) - y[c]) for j in range(keys))
                        / mass_m for c in range(dv)])
    return lhs, rhs
