"""Random states and models for the oracle tests (numpy, seeded), as fixtures: ``states``
gives the module of helpers (tests run in importlib mode, so they cannot import a sibling)."""

import sys

import pytest

import numpy as np

from attnspec.oracles.mean_field.model import Model


def unit_rows(rng, n, d):
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def random_model(kind, rng, n, d, beta=1.0, normalisation="SA"):
    if kind == "plain":
        return Model("plain", beta, normalisation)
    if kind == "logit_pe":
        return Model("logit_pe", beta, normalisation, gamma=0.7, z=unit_rows(rng, n, 2))
    if kind == "additive":
        return Model("additive", beta, normalisation, z=unit_rows(rng, n, d), C=1.5 * np.eye(d))
    return Model("prompt", beta, normalisation, prompts=unit_rows(rng, n, d), lam=0.5)


@pytest.fixture(scope="session")
def states():
    return sys.modules[__name__]
