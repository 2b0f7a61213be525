"""A kernel's attention as a Markov kernel: iterated on one-hot values, every row reaches pi.

Claim ([L] Perron-Frobenius, Dobrushin; oracles/fast_slow/markov_chain.py): non-causal softmax
attention A = softmax(scale q k^T) (one head, L x L) is row-stochastic with positive entries.
Calling the kernel with v = I gives A; calling it again with v = its last output gives A^n,
every row of which is within 2 tau(A)^n of the stationary law pi (1-norm), tau the ergodicity
coefficient. pi and tau come from the oracle, in mpmath, from the exact softmax of the float
inputs.

Tolerance per entry [D]: 2 tau^n (convergence) + n (e_w + gamma_L). e_w bounds
sum_j |A_hat_ij - A_ij|, the kernel's weights against the exact ones: with a score error
|s_hat - s| <= gamma_(D+2) scale sum_c |q_ic k_jc| =: eta_ij (D products, their sum, the scale;
Higham 2002, eq. 3.5), the weight e^(s - m) / sum e^(s - m) moves by a relative factor at most
e^(2 max eta + 4u) - 1 (the max subtracted, exp rounded, 2 eta: numerator and denominator)
plus gamma_(L+1) (the sum of L terms and the division); gamma_L is the product with v, whose
entries lie in [0, 1]. Errors do not grow from one application to the next: the exact A is an
inf-norm contraction of its argument's error (rows are probability vectors), so they add, n
times. u is the unit roundoff of the accumulation dtype (float64 here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from attnspec.oracles.fast_slow.markov_chain import (
    ergodicity_coefficient,
    softmax_matrix,
    stationary_law,
)
from mpmath import mp


@dataclass(frozen=True)
class StationaryCheck:
    iterations: int
    tau: float
    error: float        # max over rows and entries of |A^n_ic - pi_c|
    tolerance: float

    @property
    def held(self) -> bool:
        return self.error <= self.tolerance


def check_stationary_law(kernel, q: torch.Tensor, k: torch.Tensor, target: float = 1e-12,
                         max_iterations: int = 400) -> StationaryCheck:
    """Iterate ``kernel`` on one-hot values (q, k [1, 1, L, D], float64) until the convergence
    term 2 tau^n is below ``target``, and hold every row against the oracle's pi."""
    _, _, L, D = q.shape
    scale = 1 / math.sqrt(D)
    qs, ks = q[0, 0].tolist(), k[0, 0].tolist()
    with mp.workdps(40):
        A = softmax_matrix(qs, ks, scale, dps=40)
        pi = stationary_law(A, dps=40)
        tau = float(ergodicity_coefficient(A, dps=40))
    if tau == 0:  # every row of A is already pi
        n = 1
    elif tau >= 1:  # no contraction guaranteed: run the cap, the tolerance says 2 tau^n >= 2
        n = max_iterations
    else:  # the smallest n with 2 tau^n <= target
        n = min(max_iterations, max(1, math.ceil(math.log(target / 2) / math.log(tau))))
    u = torch.finfo(q.dtype).eps / 2

    def gamma(m):
        return m * u / (1 - m * u)

    eta = max(gamma(D + 2) * scale * sum(abs(a * b) for a, b in zip(qr, kr))
              for qr in qs for kr in ks)
    e_w = math.expm1(2 * eta + 4 * u) + gamma(L + 1)
    tolerance = 2 * tau ** n + n * (e_w + gamma(L))

    v = torch.eye(L, dtype=q.dtype, device=q.device)[None, None]  # [1, 1, L, L] one-hot values
    with torch.no_grad():
        for _ in range(n):
            v = kernel(q, k, v, causal=False)
    pi_f = torch.tensor([float(pi[i]) for i in range(L)], dtype=torch.float64)
    error = (v[0, 0].double().cpu() - pi_f[None, :]).abs().max().item()
    return StationaryCheck(n, tau, error, tolerance)
