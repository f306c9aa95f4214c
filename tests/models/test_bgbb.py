"""BG/BB against Fader, Hardie and Shang (2010), donations data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

from clvframe.errors import DataValidationError
from clvframe.errors import IdentificationError
from clvframe.errors import NotFittedError
from clvframe.models.bgbb import BetaGeoBetaBinomModel

PUBLISHED = {"alpha": 1.2035, "beta": 0.7497, "gamma": 0.6567, "delta": 2.7834}


@pytest.fixture(scope="module")
def donations(shared_dir) -> pd.DataFrame:
    return pd.read_csv(shared_dir / "data" / "donations.csv")


@pytest.fixture(scope="module")
def fitted(donations: pd.DataFrame) -> BetaGeoBetaBinomModel:
    d = donations
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return BetaGeoBetaBinomModel().fit(
            d["frequency"], d["recency"], d["periods"], weights=d["weights"]
        )


def test_fit_reproduces_published_parameters(fitted) -> None:
    for name, value in PUBLISHED.items():
        assert fitted.params_[name] == pytest.approx(value, abs=1e-3)
    assert fitted.log_likelihood_ == pytest.approx(-33225.58, abs=0.01)
    assert fitted.n_customers_ == 11104


def test_published_parameters_give_published_log_likelihood(donations) -> None:
    model = BetaGeoBetaBinomModel.from_params(PUBLISHED)
    d = donations
    ll = model.log_likelihood(
        d["frequency"], d["recency"], d["periods"], weights=d["weights"]
    )
    # Four-decimal parameters move the optimum's LL by well under 0.05.
    assert ll == pytest.approx(-33225.58, abs=0.05)


def _expected_by_direct_sum(params, x, tx, n, horizon, alive):
    a, b, g, d = (params[k] for k in ("alpha", "beta", "gamma", "delta"))
    k = np.arange(1, horizon + 1)
    survive = np.exp(special.betaln(g, d + n + k) - special.betaln(g, d + n))
    return alive * (a + x) / (a + b + n) * survive.sum()


@pytest.mark.parametrize("gamma", [0.6567, 1.0, 1.0 + 1e-10, 2.5])
def test_conditional_expectation_matches_direct_sum(gamma: float) -> None:
    params = dict(PUBLISHED, gamma=gamma)
    model = BetaGeoBetaBinomModel.from_params(params)
    alive = model.p_alive(3, 4, 6)
    got = model.conditional_expected_purchases(25, 3, 4, 6)
    assert got == pytest.approx(
        _expected_by_direct_sum(params, 3, 4, 6, 25, alive), rel=1e-10
    )


def test_p_n_purchases_is_a_distribution_with_the_right_mean(fitted) -> None:
    n = np.arange(8)
    probs = fitted.p_n_purchases(n, 7, 3, 4, 6)
    assert probs.sum() == pytest.approx(1.0, abs=1e-12)
    mean = fitted.conditional_expected_purchases(7, 3, 4, 6)
    assert (n * probs).sum() == pytest.approx(mean, rel=1e-10)
    new = fitted.p_n_purchases_new(n, 7)
    assert (n * new).sum() == pytest.approx(fitted.expected_purchases_new(7), rel=1e-10)


def test_p_alive_is_one_for_a_transaction_at_the_last_opportunity(fitted) -> None:
    assert fitted.p_alive(6, 6, 6) == pytest.approx(1.0)
    assert 0 < fitted.p_alive(1, 1, 6) < fitted.p_alive(1, 5, 6) < 1


def test_fit_rejects_more_transactions_than_opportunities() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"frequency > recency \(at most one purchase per period\): 1 row",
    ):
        BetaGeoBetaBinomModel().fit([3, 1], [2, 1], [6, 6])


def test_fit_rejects_fractional_periods() -> None:
    with pytest.raises(DataValidationError, match="not a whole number of periods"):
        BetaGeoBetaBinomModel().fit([1, 1], [1.5, 1], [6, 6])


def test_no_transactions_is_an_identification_error() -> None:
    with pytest.raises(IdentificationError, match="no customer made a repeat"):
        BetaGeoBetaBinomModel().fit([0, 0], [0, 0], [6, 6])


def test_unfitted_model_names_the_class() -> None:
    with pytest.raises(NotFittedError, match="BetaGeoBetaBinomModel"):
        BetaGeoBetaBinomModel().expected_purchases_new(5)
