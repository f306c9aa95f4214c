import numpy as np
import pandas as pd
import pytest
from scipy.special import hyp2f1

from clvframe.acquisition import acquisition_budget
from clvframe.acquisition import cohort_table
from clvframe.errors import ConfigError
from clvframe.estimators.historic import HistoricEstimator
from clvframe.estimators.probabilistic import BetaGeoEstimator
from clvframe.estimators.valuation import Valuation

# The CDNOW BG/NBD parameters rounded as in the shared cases (weeks), and fixed
# Gamma-Gamma parameters.
R, ALPHA, A, B = 0.243, 4.414, 0.793, 2.426
P, Q, V = 6.25, 3.74, 15.44
MONTH_DAYS = 365.25 / 12


def expected_new(t: float) -> float:
    """BG/NBD E[X(t)] for a new customer (Fader, Hardie and Lee 2005, eq. 9)."""
    z = t / (ALPHA + t)
    return (
        (A + B - 1)
        / (A - 1)
        * (1 - (ALPHA / (ALPHA + t)) ** R * hyp2f1(R, B, A + B - 1, z))
    )


def fitted(spend: dict | None = None) -> BetaGeoEstimator:
    state = {
        "time_unit": "week",
        "params": {"r": R, "alpha": ALPHA, "a": A, "b": B},
        "spend_model": spend
        or {"name": "gamma_gamma", "state": {"params": {"p": P, "q": Q, "v": V}}},
    }
    return BetaGeoEstimator().set_state(state)


def hand_value(ends_days: list[float], margin: float, yearly_rate: float) -> float:
    """First purchase undiscounted, then each month's repeats discounted at its end."""
    mean_spend = P * V / (Q - 1)
    value = mean_spend * margin
    previous = 0.0
    for end in ends_days:
        current = expected_new(end / 7.0)
        factor = (1 + yearly_rate) ** (-(end / MONTH_DAYS) / 12)
        value += (current - previous) * mean_spend * margin * factor
        previous = current
    return value


def test_new_customer_clv_matches_a_hand_computation():
    valuation = Valuation(margin=0.3, discount_rate=0.10, discount_period="year")
    twelve_months = [MONTH_DAYS * k for k in range(1, 13)]
    want = hand_value(twelve_months, margin=0.3, yearly_rate=0.10)
    got = fitted().new_customer_clv(12, "month", valuation)
    assert got == pytest.approx(want, rel=1e-10)
    # Sanity of the hand computation itself: about 35.22 * 0.3 for the first
    # purchase plus a discounted year of repeats.
    assert 35.2189 * 0.3 < got < 35.2190 * 0.3 * (1 + expected_new(52.18))


def test_new_customer_clv_cuts_the_last_step_at_the_horizon_in_any_unit():
    valuation = Valuation(margin=1.0, discount_rate=0.10, discount_period="year")
    ends = [MONTH_DAYS * k for k in range(1, 12)] + [364.0]
    want = hand_value(ends, margin=1.0, yearly_rate=0.10)
    estimator = fitted()
    assert estimator.new_customer_clv(52, "week", valuation) == pytest.approx(want)
    assert estimator.new_customer_clv(364, "day", valuation) == pytest.approx(want)
    assert estimator.new_customer_clv(52, None, valuation) == pytest.approx(want)


def test_without_discounting_it_is_mean_spend_times_one_plus_expected_repeats():
    valuation = Valuation(margin=0.5, discount_rate=0.0)
    got = fitted().new_customer_clv(100, "week", valuation)
    assert got == pytest.approx(0.5 * P * V / (Q - 1) * (1 + expected_new(100.0)))


def test_max_acquisition_cost_divides_by_the_target_ratio():
    estimator = fitted()
    valuation = Valuation(margin=0.3)
    clv = estimator.new_customer_clv(52, "week", valuation)
    assert estimator.max_acquisition_cost(52, "week", valuation) == pytest.approx(
        clv / 3
    )
    assert estimator.max_acquisition_cost(
        52, "week", valuation, target_ratio=4
    ) == pytest.approx(clv / 4)
    with pytest.raises(ConfigError, match=r"target_ratio: must be a number > 0"):
        estimator.max_acquisition_cost(52, "week", valuation, target_ratio=0)
    with pytest.raises(ConfigError, match=r"horizon must be positive"):
        estimator.new_customer_clv(0, "week", valuation)


def test_the_mean_spend_model_gives_its_population_mean():
    estimator = fitted({"name": "mean", "state": {"population_mean": 40.0}})
    valuation = Valuation(margin=1.0, discount_rate=0.0)
    got = estimator.new_customer_clv(10, "week", valuation)
    assert got == pytest.approx(40.0 * (1 + expected_new(10.0)))


def test_cohort_table_groups_by_month_of_first_purchase():
    customers = pd.DataFrame(
        {
            "first_purchase": pd.to_datetime(
                ["2024-01-03", "2024-01-31", "2024-02-01", "2024-03-15"]
            ),
            "historic_clv": [10.0, 30.0, 5.0, 7.0],
            "clv": [1.0, 3.0, 2.0, 0.5],
        },
        index=["a", "b", "c", "d"],
    )
    table = cohort_table(customers, 12.5)
    assert table.index.tolist() == ["2024-01", "2024-02", "2024-03"]
    assert table["customers"].tolist() == [2, 1, 1]
    assert table["mean_historic_clv"].tolist() == [20.0, 5.0, 7.0]
    assert table["mean_predicted_clv"].tolist() == [2.0, 2.0, 0.5]
    assert (table["new_customer_clv"] == 12.5).all()

    budget = acquisition_budget(
        fitted(),
        customers,
        horizon=52,
        horizon_unit="week",
        valuation=Valuation(),
        target_ratio=2,
    )
    assert budget.max_cost == pytest.approx(budget.new_customer_clv / 2)
    assert budget.cohorts["new_customer_clv"].iloc[0] == budget.new_customer_clv
    one_month = customers.iloc[:2]
    single = acquisition_budget(
        fitted(), one_month, horizon=52, horizon_unit="week", valuation=Valuation()
    )
    assert single.cohorts is None
    assert set(single.metrics()) == {
        "acquisition_new_customer_clv",
        "acquisition_max_cost",
    }


def test_estimators_without_a_population_model_give_no_budget():
    frame = pd.DataFrame({"first_purchase": pd.to_datetime(["2024-01-01"])})
    assert (
        acquisition_budget(
            HistoricEstimator(),
            frame,
            horizon=52,
            horizon_unit="week",
            valuation=Valuation(),
        )
        is None
    )
    with pytest.raises(ConfigError, match=r"acquisition.target_ratio"):
        acquisition_budget(
            fitted(),
            frame,
            horizon=52,
            horizon_unit="week",
            valuation=Valuation(),
            target_ratio=-1,
        )
    assert np.isfinite(fitted().population_mean_spend())
