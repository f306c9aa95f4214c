"""The shared special functions against numpy's and scipy's own."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import special

from clvframe.models._special import softplus_and_expit


def test_softplus_and_expit_match_logaddexp_and_expit() -> None:
    d = np.concatenate(
        [np.linspace(-800, 800, 20001), [0.0, -0.0, 1e-300, -1e-300, 1e308, -1e308]]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        softplus, logistic = softplus_and_expit(d)
    np.testing.assert_allclose(softplus, np.logaddexp(0.0, d), rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(logistic, special.expit(d), rtol=2e-15, atol=1e-300)
    assert np.all((logistic >= 0) & (logistic <= 1))
