import numpy as np
import pandas as pd
import pytest
from scipy import special

from clvframe.data.summary import CustomerData
from clvframe.data.transactions import prepare_transactions
from clvframe.estimators.subscription import ShiftedBetaGeometricEstimator
from clvframe.estimators.subscription import subscription_summary
from clvframe.estimators.valuation import Valuation

PARAMS = {"alpha": 0.7041, "beta": 1.1820}


def survival(t):
    a, b = PARAMS["alpha"], PARAMS["beta"]
    return np.exp(special.betaln(a, b + np.asarray(t, float)) - special.betaln(a, b))


def payment_log(rows, end):
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])
    return CustomerData.from_transactions(
        prepare_transactions(frame), observation_end=end, time_unit="week"
    )


def fixed(period="month"):
    return ShiftedBetaGeometricEstimator(period=period).set_state(
        {"time_unit": period, "params": PARAMS}
    )


def test_payments_are_read_as_paid_periods():
    data = payment_log(
        [
            ("A", "2024-01-01", 10.0),
            ("A", "2024-02-01", 10.0),
            ("A", "2024-03-02", 10.0),  # paid for the period holding the end
            ("B", "2024-01-05", 20.0),
            ("B", "2024-02-05", 20.0),  # nothing for March: churned after 2
        ],
        end="2024-03-20",
    )
    summary = subscription_summary(data, "month")
    assert summary.loc["A", ["payments", "churned", "periods_completed"]].tolist() == [
        3,
        False,
        2,
    ]
    assert summary.loc["B", ["payments", "churned", "periods_completed"]].tolist() == [
        2,
        True,
        2,
    ]


def test_expected_payments_and_derl_match_direct_sums():
    summary = pd.DataFrame(
        {
            "payments": [1, 4, 3],
            "churned": [False, False, True],
            "revenue_per_period": 10.0,
        },
        index=["new", "loyal", "gone"],
    )
    valuation = Valuation(
        discount_rate=0.10, discount_period="year", discount_step="year"
    )
    forecast = fixed("year").predict(
        summary, horizon=3, horizon_unit="year", valuation=valuation
    )
    for name, k in (("new", 1), ("loyal", 4)):
        ahead = survival(np.arange(k, k + 3)) / survival(k - 1)
        assert forecast.loc[name, "expected_purchases"] == pytest.approx(ahead.sum())
        # One discount step a year: payment j is discounted by 1.1 ** -j.
        discounted = (ahead / 1.1 ** np.arange(1, 4)).sum() * 10
        assert forecast.loc[name, "clv"] == pytest.approx(discounted)
        # DERL: every future payment, the next one undiscounted.
        j = np.arange(1, 4000)
        derl = (survival(k + j - 1) / survival(k - 1) / 1.1 ** (j - 1)).sum()
        assert forecast.loc[name, "derl_clv"] == pytest.approx(10 * derl, rel=1e-6)
    assert forecast.loc["gone"].drop("p_repurchase").abs().sum() == 0


def test_fit_recovers_parameters_from_a_simulated_payment_log():
    rng = np.random.default_rng(3)
    n = 4000
    theta = rng.beta(PARAMS["alpha"], PARAMS["beta"], n)
    lifetime = rng.geometric(theta)  # periods paid for
    start = rng.integers(0, 12, n)  # joined in the first year, monthly grid
    rows = []
    for i in range(n):
        for k in range(min(lifetime[i], 36 - start[i])):
            month = start[i] + k
            rows.append((f"c{i}", f"{2020 + month // 12}-{month % 12 + 1:02d}-01", 9.0))
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])
    data = CustomerData.from_transactions(
        prepare_transactions(frame), observation_end="2022-12-15"
    )
    estimator = ShiftedBetaGeometricEstimator(period="month", grace_days=5).fit(data)
    for name, value in PARAMS.items():
        se = estimator.model_.standard_errors_[name]
        assert abs(estimator.params_[name] - value) < 3 * se + 0.05 * value


def test_cohort_table_reproduces_the_published_fit_and_projection(data_dir):
    cohorts = pd.read_csv(data_dir / "subscription_cohorts.csv")
    for column, published in (
        ("regular_alive", (0.7041, 1.1820)),
        ("highend_alive", (0.6681, 3.8061)),
    ):
        estimator = ShiftedBetaGeometricEstimator(period="year").fit(
            pd.DataFrame({"alive": cohorts[column][:8]})
        )
        assert estimator.params_["alpha"] == pytest.approx(published[0], abs=1e-3)
        assert estimator.params_["beta"] == pytest.approx(published[1], abs=1e-3)
        projected = 1000 * estimator.survival(np.arange(8, 13))
        actual = cohorts[column][8:].to_numpy()
        assert np.all(np.abs(projected / actual - 1) < 0.05)
