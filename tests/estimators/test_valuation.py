import dataclasses

import numpy as np
import pandas as pd
import pytest

from clvframe.data.summary import CustomerData
from clvframe.errors import ConfigError
from clvframe.estimators.probabilistic import BetaGeoEstimator
from clvframe.estimators.valuation import Valuation

CDNOW_ROUNDED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
SPEND = {"p": 6.25, "q": 3.74, "v": 15.44}
MONTH_DAYS = 4.345 * 7


def fixed_model(unit: str = "week") -> BetaGeoEstimator:
    return BetaGeoEstimator().set_state(
        {
            "time_unit": unit,
            "params": CDNOW_ROUNDED,
            "spend_model": {"name": "gamma_gamma", "state": {"params": SPEND}},
        }
    )


@pytest.fixture
def units_case(cases_dir) -> CustomerData:
    summary = pd.read_csv(cases_dir / "clv-units-summary.csv", index_col="customer_id")
    return CustomerData.from_summary(summary, time_unit="week")


MONTHLY = Valuation(
    margin=1.0,
    discount_rate=0.01,
    discount_period="month",
    discount_step="month",
    month_days=MONTH_DAYS,
)


def test_clv_units_case(units_case):
    clv = fixed_model().predict(
        units_case, horizon=12, horizon_unit="month", valuation=MONTHLY
    )
    assert clv.loc["K1", "clv"] == pytest.approx(39.4873, abs=5e-4)


@pytest.mark.parametrize(
    ("horizon", "unit", "month_days"),
    [
        (12 * MONTH_DAYS, "day", MONTH_DAYS),
        (12 * 4.345, "week", MONTH_DAYS),
        (1, "year", 365.25 / 12),
    ],
)
def test_same_horizon_in_any_unit_gives_the_same_clv(
    units_case, horizon, unit, month_days
):
    valuation = dataclasses.replace(MONTHLY, month_days=month_days)
    model = fixed_model()
    reference = model.predict(
        units_case, horizon=12, horizon_unit="month", valuation=valuation
    )
    other = model.predict(
        units_case, horizon=horizon, horizon_unit=unit, valuation=valuation
    )
    np.testing.assert_allclose(other["clv"], reference["clv"], rtol=1e-10)


def test_data_in_days_is_converted_not_reinterpreted(units_case):
    in_days = CustomerData.from_summary(
        units_case.summary.assign(
            recency=units_case.summary["recency"] * 7, T=units_case.summary["T"] * 7
        ),
        time_unit="day",
    )
    weeks = fixed_model().predict(units_case, horizon=39)
    days = fixed_model().predict(in_days, horizon=39)
    pd.testing.assert_frame_equal(weeks, days)
    assert weeks.loc["K1", "expected_purchases"] == pytest.approx(1.2259, abs=1e-3)


def test_margin_scales_and_zero_rate_sums_the_spend(units_case):
    flat = Valuation(margin=0.3, discount_rate=0.0)
    forecast = fixed_model().predict(units_case, horizon=52, valuation=flat)
    assert forecast["clv"].iloc[0] == pytest.approx(
        0.3 * forecast["expected_spend"].iloc[0]
    )


def test_step_rate_converts_the_period_exactly():
    valuation = Valuation(
        discount_rate=0.10, discount_period="year", discount_step="month"
    )
    assert (1 + valuation.step_rate()) ** 12 == pytest.approx(1.10)


def test_valuation_reports_every_problem():
    with pytest.raises(ConfigError, match="margin.*discount_rate.*discount_step"):
        Valuation(margin=-1, discount_rate=-2, discount_step="fortnight").check()


def test_probability_of_n_purchases_sums_to_one_and_matches_the_mean(units_case):
    model = fixed_model()
    probabilities = model.p_purchases(units_case, np.arange(0, 60), horizon=39)
    assert probabilities.sum(axis=1).iloc[0] == pytest.approx(1.0, abs=1e-8)
    mean = (probabilities.to_numpy() * np.arange(0, 60)).sum()
    expected = model.predict(units_case, horizon=39)["expected_purchases"].iloc[0]
    assert mean == pytest.approx(expected, abs=1e-6)


def test_absurd_horizon_is_refused_before_any_work(units_case):
    with pytest.raises(ConfigError, match="at most 100 years; got 1000000000.0"):
        fixed_model().predict(units_case, horizon=1e9)


def test_margin_is_a_share_and_discount_rate_not_negative():
    with pytest.raises(ConfigError, match="margin: must be a share of revenue"):
        Valuation(margin=1.5).check()
    with pytest.raises(ConfigError, match="discount_rate: must be a number >= 0"):
        Valuation(discount_rate=-0.1).check()
