"""Key laws (key_laws.py): densities, CDFs and local constants."""

import math

import numpy as np
import pytest
from mpmath import mp

from attnspec.oracles.scaling_limits import key_laws as KL
from attnspec.oracles.scaling_limits._numerics import MP, NP
from attnspec.oracles.scaling_limits.score_law import small_ball_constant

LAWS = [KL.UniformSphere(5), KL.Subsphere(4, 0.8), KL.VonMisesFisher(3, 2.0, 1.0), KL.VonMisesFisher(5, 1.5, 0.3)]


@pytest.mark.parametrize("law", LAWS, ids=repr)
def test_density_integrates_to_one(law):
    with mp.workdps(20):
        f = lambda u: law.pdf_u(MP, np.array([u], dtype=object))[0]
        tot = mp.quad(f, [0, law.u_hi / 2, law.u_hi])
        assert abs(tot - 1) < mp.mpf(10) ** -15


@pytest.mark.parametrize("law", LAWS, ids=repr)
def test_small_ball_constant_is_the_limit_of_the_cdf(law):
    with mp.workdps(25):
        a, C = law.local_exponent(), law.small_ball_constant()
        r = mp.mpf(10) ** -8
        F = law.cdf_u(MP, np.array([r], dtype=object))[0]
        assert abs(F / (C * r ** a) - 1) < 10 * a * r ** (1 if isinstance(law, KL.Subsphere) else mp.mpf(1) / 1) + mp.mpf(10) ** -12
    # numpy twins
    u = np.array([1e-6, 0.1, 0.7, 1.3])
    u = u[u < law.u_hi]
    with mp.workdps(20):
        ref = np.array([float(law.cdf_u(MP, np.array([mp.mpf(x)], dtype=object))[0]) for x in u])
        refp = np.array([float(law.pdf_u(MP, np.array([mp.mpf(x)], dtype=object))[0]) for x in u])
    assert np.allclose(law.cdf_u(NP, u), ref, rtol=1e-9, atol=0)
    assert np.allclose(law.pdf_u(NP, u), refp, rtol=1e-12, atol=0)


def test_vmf_constant_is_density_ratio():
    with mp.workdps(25):
        law = KL.VonMisesFisher(6, 2.5, math.cos(0.4))
        assert abs(law.small_ball_constant() - small_ball_constant(6) * law.density_ratio_at_query()) < mp.mpf(10) ** -20
        # rho(q)/rho_unif = e^(kappa cos theta) / E_unif e^(kappa <mu,k>)
        from attnspec.oracles.scaling_limits.partition import partition_function
        assert abs(law.density_ratio_at_query() - mp.exp(2.5 * mp.cos(mp.mpf("0.4"))) / partition_function(2.5, 6)) < mp.mpf(10) ** -8


def test_subsphere_exponent_ignores_ambient_dimension():
    law = KL.Subsphere(3, 1.0)
    with mp.workdps(20):
        assert law.local_exponent() == 1
        assert law.small_ball_constant() == mp.mpf(1) / 2


def test_gaussian_scores():
    law = KL.GaussianScores(2.0, ref=1.0)
    u = np.array([-3.0, 0.0, 2.5])
    # P(ref - X <= u) = P(X >= ref - u)
    from scipy import stats
    assert np.allclose(law.cdf_u(NP, u), stats.norm(0, 2).sf(1.0 - u), rtol=1e-14)
    with mp.workdps(20):
        assert abs(float(law.cdf_u(MP, np.array([mp.mpf(-3)], dtype=object))[0]) - stats.norm(0, 2).sf(4.0)) < 1e-15
