"""Gamma-Gamma against Fader, Hardie and Lee's note and the shared cases."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clvframe.errors import DataValidationError
from clvframe.errors import DataWarning
from clvframe.errors import NotFittedError
from clvframe.models.gamma_gamma import GammaGammaModel


@pytest.fixture(scope="module")
def cdnow_repeat(shared_dir) -> pd.DataFrame:
    path = shared_dir / "data" / "cdnow_customers_summary_with_transactions.csv"
    d = pd.read_csv(path)
    return d[d["x"] > 0]


def test_fit_reproduces_published_parameters(cdnow_repeat: pd.DataFrame) -> None:
    assert len(cdnow_repeat) == 946
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = GammaGammaModel().fit(cdnow_repeat["x"], cdnow_repeat["zbar"])
    published = {"p": 6.2488, "q": 3.7446, "v": 15.4477}
    for name, value in published.items():
        assert model.params_[name] == pytest.approx(value, abs=1e-3)
    assert model.n_customers_ == 946
    assert all(0 < se < np.inf for se in model.standard_errors_.values())
    assert model.log_likelihood(cdnow_repeat["x"], cdnow_repeat["zbar"]) == (
        pytest.approx(model.log_likelihood_)
    )


@pytest.fixture(scope="module")
def zero_case(shared_dir) -> pd.DataFrame:
    return pd.read_csv(shared_dir / "cases" / "gamma-gamma-zero-frequency-summary.csv")


def test_frequency_zero_is_an_error_naming_the_customer(zero_case) -> None:
    with pytest.raises(DataValidationError, match=r"repeat buyers only.*'G0'"):
        GammaGammaModel().fit(
            zero_case["frequency"],
            zero_case["monetary_value"],
            customer_ids=zero_case["customer_id"],
        )


def test_exclude_non_repeat_warns_and_predicts_population_mean(zero_case) -> None:
    with pytest.warns(DataWarning, match="left out 1 customers with frequency 0"):
        model = GammaGammaModel(exclude_non_repeat=True).fit(
            zero_case["frequency"], zero_case["monetary_value"]
        )
    p, q, v = (model.params_[k] for k in ("p", "q", "v"))
    spend = model.conditional_expected_spend(
        zero_case["frequency"], zero_case["monetary_value"]
    )
    assert spend[0] == pytest.approx(p * v / (q - 1), rel=1e-12)
    assert np.all(np.isfinite(spend))


def test_no_repeat_buyers_is_a_clear_error() -> None:
    with (
        pytest.warns(DataWarning, match="left out 2"),
        pytest.raises(DataValidationError, match="no repeat buyers"),
    ):
        GammaGammaModel(exclude_non_repeat=True).fit([0, 0], [10.0, 0.0])


def test_non_positive_spend_lists_customer_ids() -> None:
    with pytest.raises(DataValidationError, match=r"positive monetary_value.*'R3'"):
        GammaGammaModel().fit(
            [1, 2, 1], [10.0, 12.0, 0.0], customer_ids=["R1", "R2", "R3"]
        )


def test_expected_spend_shrinks_towards_the_mean() -> None:
    model = GammaGammaModel.from_params({"p": 6.25, "q": 3.74, "v": 15.44})
    mean = 6.25 * 15.44 / 2.74
    spend = model.conditional_expected_spend([1, 10, 1000], [100.0, 100.0, 100.0])
    assert np.all(np.diff(spend) > 0)
    assert mean < spend[0] < 100.0
    assert spend[-1] == pytest.approx(100.0, rel=1e-2)


def test_q_at_most_one_is_a_clear_error() -> None:
    model = GammaGammaModel.from_params({"p": 6.0, "q": 0.9, "v": 15.0})
    with pytest.raises(ValueError, match="q=0.9 <= 1"):
        model.conditional_expected_spend([1], [10.0])


def test_unfitted_model_names_the_class() -> None:
    with pytest.raises(NotFittedError, match="GammaGammaModel"):
        GammaGammaModel().conditional_expected_spend([1], [10.0])
