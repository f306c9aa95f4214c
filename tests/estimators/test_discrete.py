import pandas as pd
import pytest

from clvframe.data.summary import CustomerData
from clvframe.data.transactions import prepare_transactions
from clvframe.errors import DataValidationError
from clvframe.estimators.discrete import BetaGeoBetaBinomEstimator
from clvframe.estimators.discrete import opportunity_summary


def yearly_log(rows, end="2024-06-30"):
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])
    return CustomerData.from_transactions(
        prepare_transactions(frame), observation_end=end, time_unit="year"
    )


def test_opportunities_count_from_each_first_purchase():
    data = yearly_log(
        [
            # Opportunity k covers days [k * 365.25, (k + 1) * 365.25) after
            # the first purchase; 2020-01-10 to 2024-06-30 holds 3 complete ones
            # after the first (the fourth ends in 2025).
            ("A", "2020-01-10", 50.0),
            ("A", "2020-06-01", 10.0),  # same opportunity as the first
            ("A", "2021-02-01", 30.0),  # k = 1
            ("A", "2023-01-15", 40.0),  # k = 3 (1,101 days: 3.01 years)
            ("A", "2024-03-01", 99.0),  # k = 4, not complete: left out
            ("B", "2023-01-01", 20.0),  # one complete opportunity, no repeat
        ]
    )
    summary = opportunity_summary(data, "year")
    assert summary.loc["A"].to_dict() == {
        "frequency": 2,
        "recency": 3,
        "n_periods": 3,
        "monetary_value": 35.0,
    }
    assert summary.loc["B", ["frequency", "recency", "n_periods"]].tolist() == [0, 0, 0]


def test_donations_table_reproduces_the_published_fit(data_dir):
    table = pd.read_csv(data_dir / "donations.csv").rename(
        columns={"periods": "n_periods"}
    )
    estimator = BetaGeoBetaBinomEstimator().fit(table)
    published = {"alpha": 1.2035, "beta": 0.7497, "gamma": 0.6567, "delta": 2.7834}
    for name, value in published.items():
        assert estimator.params_[name] == pytest.approx(value, abs=1e-3)
    assert estimator.log_likelihood_ == pytest.approx(-33225.58, abs=0.01)


def test_forecast_counts_whole_opportunities_only(data_dir):
    table = pd.read_csv(data_dir / "donations.csv").rename(
        columns={"periods": "n_periods"}
    )
    estimator = BetaGeoBetaBinomEstimator().fit(table)
    one = estimator.predict(table, horizon=1, horizon_unit="year")
    almost_two = estimator.predict(table, horizon=1.9, horizon_unit="year")
    pd.testing.assert_series_equal(
        one["expected_purchases"], almost_two["expected_purchases"]
    )
    assert ((one["p_alive"] >= 0) & (one["p_alive"] <= 1)).all()


def test_log_too_short_for_an_opportunity_says_so():
    data = yearly_log([("A", "2024-01-01", 5.0), ("A", "2024-03-01", 5.0)])
    with pytest.raises(DataValidationError, match="no customer has a complete year"):
        BetaGeoBetaBinomEstimator().fit(data)


def test_saved_estimator_predicts_the_same(data_dir, tmp_path):
    table = pd.read_csv(data_dir / "donations.csv").rename(
        columns={"periods": "n_periods"}
    )
    estimator = BetaGeoBetaBinomEstimator().fit(table)
    estimator.save(tmp_path)
    loaded = BetaGeoBetaBinomEstimator.load(tmp_path)
    assert loaded.spend_model_ is None  # the table has no amounts
    pd.testing.assert_frame_equal(
        loaded.predict(table, horizon=3), estimator.predict(table, horizon=3)
    )
