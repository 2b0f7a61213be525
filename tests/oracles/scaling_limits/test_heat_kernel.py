"""Heat-kernel action (heat_kernel.py) against quadrature and its own expansions."""

import pytest
from mpmath import mp

from attnspec.oracles.scaling_limits import heat_kernel as HK
from attnspec.oracles.scaling_limits import partition as P


@pytest.mark.parametrize("d", [2, 3, 5, 8])
@pytest.mark.parametrize("beta", ["0.5", "5", "50"])
def test_eigenvalue_against_funk_hecke_quadrature(d, beta):
    with mp.workdps(25):
        for l in range(5):
            a = HK.heat_eigenvalue(l, beta, d, 25)
            b = HK.heat_eigenvalue_quadrature(l, beta, d, 25)
            assert abs(a - b) < mp.mpf(10) ** -20


def test_first_eigenvalue_is_mean_resultant():
    for d in (3, 8):
        assert abs(HK.heat_eigenvalue(1, 7, d) - P.mean_resultant(7, d)) < mp.mpf(10) ** -25


def test_expansion_is_exact_for_d3_low_degrees():
    # half-integer Bessel orders: lambda_1 = coth(b) - 1/b, lambda_2 = 1 + 3/b^2 - 3 coth(b)/b, so the
    # second-order expansion is exact up to e^(-2 beta)
    with mp.workdps(30):
        for l in (1, 2):
            for b in (mp.mpf(40), mp.mpf(400)):
                assert abs(HK.heat_eigenvalue(l, b, 3, 30) - HK.heat_eigenvalue_expansion(l, b, 3, 2, 30)) < mp.mpf(10) ** -28


@pytest.mark.parametrize("d", [4, 8])
@pytest.mark.parametrize("l", [1, 2, 4])
def test_expansion_remainder_is_third_order(d, l):
    # beta^3 (lambda - expansion) converges to a constant: ratios between beta and 2 beta tend to 1
    with mp.workdps(30):
        rem = [mp.mpf(b) ** 3 * (HK.heat_eigenvalue(l, b, d, 30) - HK.heat_eigenvalue_expansion(l, b, d, 2, 30))
               for b in (400, 800, 1600)]
        assert abs(rem[2] / rem[1] - 1) < abs(rem[1] / rem[0] - 1) < 0.05
        # and the first-order truncation is only O(beta^-2)
        b = mp.mpf(1600)
        one = b ** 2 * abs(HK.heat_eigenvalue(l, b, d) - HK.heat_eigenvalue_expansion(l, b, d, 1))
        L = l * (l + d - 2)
        assert abs(one - abs(L * L - 2 * L) / 8) < 0.05 * abs(L * L - 2 * L) / 8 + 1e-12


@pytest.mark.parametrize("d", [3, 6])
@pytest.mark.parametrize("beta,kappa,theta", [("5", "2", "0.7"), ("40", "1", "2.0"), ("200", "5", "1.2")])
def test_vmf_drift_closed_form_against_quadrature(d, beta, kappa, theta):
    with mp.workdps(25):
        a = HK.vmf_tangential_drift(beta, kappa, theta, d, 25)
        b = HK.vmf_tangential_drift_quadrature(beta, kappa, theta, d, 25)
        assert abs(a - b) < mp.mpf(10) ** -18 * abs(a)


@pytest.mark.parametrize("d", [3, 6])
def test_drift_is_gradient_of_log_density_over_beta(d):
    # relative error O(1/beta)
    with mp.workdps(25):
        errs = []
        for b in (100, 1000, 10000):
            ex = HK.vmf_tangential_drift(b, 3, "0.9", d)
            lead = HK.gradient_log_density_drift(b, 3, "0.9", d)
            errs.append(abs(ex / lead - 1))
        assert errs[0] > errs[1] > errs[2] and errs[1] / errs[2] > 8


def test_linear_response_gives_first_eigenvalue():
    # rho = vMF(mu, kappa) = 1 + kappa <mu, k> + O(kappa^2): drift / kappa -> lambda_1(beta) sin(theta)/beta
    with mp.workdps(30):
        d, b, th = 5, mp.mpf(30), mp.mpf("0.8")
        k = mp.mpf(10) ** -10
        lhs = HK.vmf_tangential_drift(b, k, th, d, 30) / k
        rhs = HK.heat_eigenvalue(1, b, d, 30) * mp.sin(th) / b
        assert abs(lhs / rhs - 1) < mp.mpf(10) ** -8


def test_backward_heat_rate():
    # docs/claims.md [M]: the predicted rate matched to 0.998 at beta = 1000; the exact-to-leading ratio is
    # lambda_l(1000) = 1 - l(l+d-2)/2000 + ...: 0.999 (l=1), 0.997 (l=2) at d = 3
    for l in (1, 2):
        r = HK.backward_heat_rate(l, 1000, 3) / HK.backward_heat_rate_leading(l, 1000, 3)
        assert abs(r - (1 - l * (l + 1) / mp.mpf(2000))) < 1e-5
        assert 0.996 < r < 1
