"""sBG against Fader and Hardie (2007), subscription cohorts."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

from clvframe.errors import DataValidationError
from clvframe.errors import IdentificationError
from clvframe.errors import NotFittedError
from clvframe.models.sbg import ShiftedBetaGeometricModel


@pytest.fixture(scope="module")
def cohorts(shared_dir) -> pd.DataFrame:
    return pd.read_csv(shared_dir / "data" / "subscription_cohorts.csv")


@pytest.mark.parametrize(
    ("column", "alpha", "beta"),
    [("regular_alive", 0.7041, 1.1820), ("highend_alive", 0.6681, 3.8061)],
)
def test_fit_reproduces_published_parameters_and_projection(
    cohorts, column, alpha, beta
) -> None:
    counts = cohorts[column].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = ShiftedBetaGeometricModel().fit_survival(counts[:8])
    assert model.params_["alpha"] == pytest.approx(alpha, abs=1e-3)
    assert model.params_["beta"] == pytest.approx(beta, abs=1e-3)
    assert model.n_customers_ == 1000
    projected = counts[0] * model.survival(np.arange(8, 13))
    np.testing.assert_allclose(projected, counts[8:], rtol=0.05)


def test_per_customer_fit_equals_cohort_fit(cohorts) -> None:
    counts = cohorts["regular_alive"].to_numpy()[:8]
    lost = counts[:-1] - counts[1:]
    periods = np.concatenate([np.repeat(np.arange(1, 8), lost), np.full(counts[-1], 7)])
    churned = np.concatenate([np.ones(lost.sum(), bool), np.zeros(counts[-1], bool)])
    per_customer = ShiftedBetaGeometricModel().fit(periods, churned)
    cohort = ShiftedBetaGeometricModel().fit_survival(counts)
    for name in ("alpha", "beta"):
        assert per_customer.params_[name] == pytest.approx(cohort.params_[name])


def test_churn_survival_and_retention_agree() -> None:
    model = ShiftedBetaGeometricModel.from_params({"alpha": 0.7, "beta": 1.2})
    t = np.arange(1, 30)
    churn = model.churn_probability(t)
    survival = model.survival(t)
    np.testing.assert_allclose(1 - np.cumsum(churn), survival, rtol=1e-12)
    np.testing.assert_allclose(
        model.retention_rate(t), survival / model.survival(t - 1), rtol=1e-12
    )
    assert model.survival(0) == 1.0


@pytest.mark.parametrize("renewals", [0, 4, 30])
def test_derl_matches_the_discounted_sum(renewals: int) -> None:
    # Fader and Hardie (2010): sum over k >= 1 of P(k more renewals) / (1+d)^(k-1).
    alpha, beta, d = 0.7041, 1.1820, 0.10
    model = ShiftedBetaGeometricModel.from_params({"alpha": alpha, "beta": beta})
    k = np.arange(1, 5000)
    survive = np.exp(
        special.betaln(alpha, beta + renewals + k)
        - special.betaln(alpha, beta + renewals)
    )
    expected = (survive / (1 + d) ** (k - 1)).sum()
    assert model.derl(d, renewals) == pytest.approx(expected, rel=1e-10)
    del_new = (
        1
        + (
            np.exp(special.betaln(alpha, beta + k) - special.betaln(alpha, beta))
            / (1 + d) ** k
        ).sum()
    )
    assert model.discounted_expected_lifetime(d) == pytest.approx(del_new, rel=1e-10)


def test_derl_requires_positive_discount_rate() -> None:
    model = ShiftedBetaGeometricModel.from_params({"alpha": 0.7, "beta": 1.2})
    with pytest.raises(DataValidationError, match="discount rate per period > 0"):
        model.derl(0.0)


def test_fit_survival_rejects_increasing_counts() -> None:
    with pytest.raises(DataValidationError, match=r"increases.*positions \[2\]"):
        ShiftedBetaGeometricModel().fit_survival([100, 80, 85, 70])


def test_no_churn_is_an_identification_error() -> None:
    with pytest.raises(IdentificationError, match="no customer churned"):
        ShiftedBetaGeometricModel().fit_survival([100, 100, 100])


def test_unfitted_model_names_the_class() -> None:
    with pytest.raises(NotFittedError, match="ShiftedBetaGeometricModel"):
        ShiftedBetaGeometricModel().survival(3)
