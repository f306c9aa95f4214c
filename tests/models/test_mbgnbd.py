"""MBG/NBD against Batislam et al. (2007) as fitted to CDNOW, and the cases."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy import stats

from clvframe.errors import BoundaryWarning
from clvframe.errors import IdentificationError
from clvframe.errors import NotFittedError
from clvframe.models.mbgnbd import ModifiedBetaGeoModel


@pytest.fixture(scope="module")
def fitted(cdnow_summary: pd.DataFrame) -> ModifiedBetaGeoModel:
    d = cdnow_summary
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return ModifiedBetaGeoModel().fit(d["frequency"], d["recency"], d["T"])


def test_fit_reproduces_published_cdnow_parameters(fitted) -> None:
    published = {"r": 0.5248, "alpha": 6.1830, "a": 0.8914, "b": 1.6140}
    for name, value in published.items():
        assert fitted.params_[name] == pytest.approx(value, abs=1e-3)
    assert fitted.log_likelihood_ == pytest.approx(-9582.13, abs=0.01)
    assert all(0 < se < np.inf for se in fitted.standard_errors_.values())


def test_one_time_buyers_are_not_certainly_alive(fitted) -> None:
    alive = fitted.p_alive([0, 0], [0, 0], [1.0, 38.86])
    assert np.all(alive < 1)
    assert alive[0] > alive[1]


def test_expected_purchases_new_matches_integration() -> None:
    # E[X(t)] = E over p ~ Beta(a, b) of (1 - p) (1 - (1 + p t/alpha)^-r) / p.
    r, alpha, a, b, t = 0.52, 6.18, 0.89, 1.61, 78.0
    model = ModifiedBetaGeoModel.from_params({"r": r, "alpha": alpha, "a": a, "b": b})

    def integrand(p: float) -> float:
        live = -np.expm1(-r * np.log1p(p * t / alpha)) / p
        return (1 - p) * live * stats.beta.pdf(p, a, b)

    ref = integrate.quad(integrand, 0, 1, epsabs=0, epsrel=1e-11, limit=200)[0]
    assert model.expected_purchases_new(t) == pytest.approx(ref, rel=1e-8)


def test_p_n_purchases_is_a_distribution_with_the_right_mean(fitted) -> None:
    n = np.arange(300)
    probs = fitted.p_n_purchases(n, 39, 2, 30.43, 38.86)
    assert probs.sum() == pytest.approx(1.0, abs=1e-10)
    mean = fitted.conditional_expected_purchases(39, 2, 30.43, 38.86)
    assert (n * probs).sum() == pytest.approx(mean, rel=1e-8)
    new = fitted.p_n_purchases_new(n, 39)
    assert (n * new).sum() == pytest.approx(fitted.expected_purchases_new(39), rel=1e-8)


def test_degenerate_all_zero_is_an_identification_error(shared_dir) -> None:
    d = pd.read_csv(shared_dir / "cases" / "degenerate-summaries.csv")
    zero = d[d["dataset"] == "all_zero"]
    with pytest.raises(IdentificationError, match="no customer made a repeat"):
        ModifiedBetaGeoModel().fit(zero["frequency"], zero["recency"], zero["T"])


@pytest.mark.parametrize("dataset", ["one_repeat", "daily"])
def test_degenerate_fits_warn_and_are_deterministic(shared_dir, dataset) -> None:
    d = pd.read_csv(shared_dir / "cases" / "degenerate-summaries.csv")
    g = d[d["dataset"] == dataset]
    runs = []
    for _ in range(2):
        with pytest.warns(BoundaryWarning, match="mbgnbd: parameter"):
            model = ModifiedBetaGeoModel().fit(g["frequency"], g["recency"], g["T"])
        runs.append(model.params_)
        assert all(np.isfinite(v) for v in model.params_.values())
    assert runs[0] == runs[1]


def test_unfitted_model_names_the_class() -> None:
    with pytest.raises(NotFittedError, match="ModifiedBetaGeoModel"):
        ModifiedBetaGeoModel().p_alive(1, 2, 3)
