"""The synthetic generator: shape, determinism and parameter recovery."""

from __future__ import annotations

import pandas as pd
import pytest

from clvframe.models.bgnbd import BetaGeoModel
from clvframe.models.gamma_gamma import GammaGammaModel
from clvframe.models.paretonbd import ParetoNBDModel
from clvframe.models.synthetic import DEFAULT_PARAMS
from clvframe.models.synthetic import DEFAULT_SPEND_PARAMS
from clvframe.models.synthetic import simulate_transactions

START = pd.Timestamp("2020-01-01")


def _summary(log: pd.DataFrame, observation_weeks: float = 78) -> pd.DataFrame:
    """Per-customer (frequency, recency, T, monetary) in weeks, every row a purchase."""
    weeks = (log["timestamp"] - START) / pd.Timedelta(days=7)
    g = log.assign(weeks=weeks).groupby("customer_id", sort=False)
    first = g["weeks"].transform("min")
    repeat = log[weeks > first]
    out = pd.DataFrame(
        {
            "frequency": g.size() - 1,
            "recency": g["weeks"].max() - g["weeks"].min(),
            "T": observation_weeks - g["weeks"].min(),
        }
    )
    out["monetary"] = repeat.groupby("customer_id")["amount"].mean()
    return out.fillna({"monetary": 0.0})


def test_columns_types_and_determinism() -> None:
    log = simulate_transactions(500, extra_columns=True, seed=3)
    assert list(log.columns) == [
        "customer_id",
        "timestamp",
        "amount",
        "channel",
        "category",
    ]
    assert log["customer_id"].nunique() == 500
    assert isinstance(log["customer_id"].iloc[0], str)
    assert pd.api.types.is_datetime64_any_dtype(log["timestamp"])
    assert (log["amount"] > 0).all()
    assert set(log["channel"]) <= {"web", "store", "app"}
    # Days only by default, and never past the end of observation.
    assert (log["timestamp"] == log["timestamp"].dt.floor("D")).all()
    assert log["timestamp"].max() < START + pd.Timedelta(weeks=78)
    pd.testing.assert_frame_equal(
        log, simulate_transactions(500, extra_columns=True, seed=3)
    )
    assert not log.equals(simulate_transactions(500, extra_columns=True, seed=4))


def test_app_channel_doubles_spend() -> None:
    log = simulate_transactions(20_000, extra_columns=True, seed=1)
    mean = log.groupby("channel")["amount"].mean()
    assert mean["app"] / mean["web"] == pytest.approx(2.0, rel=0.1)


def test_unknown_process_and_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match="process must be one of"):
        simulate_transactions(10, process="bgbb")
    with pytest.raises(ValueError, match="unknown parameters"):
        simulate_transactions(10, params={"s": 1.0})


@pytest.mark.parametrize(
    ("process", "model_class"),
    [("bgnbd", BetaGeoModel), ("paretonbd", ParetoNBDModel)],
)
def test_fit_recovers_parameters_within_three_standard_errors(
    process, model_class
) -> None:
    log = simulate_transactions(20_000, process=process, exact_times=True, seed=11)
    summary = _summary(log)
    model = model_class().fit(summary["frequency"], summary["recency"], summary["T"])
    for name, true in DEFAULT_PARAMS[process].items():
        se = model.standard_errors_[name]
        assert abs(model.params_[name] - true) < 3 * se, (name, model.params_, se)


def test_gamma_gamma_recovers_spend_parameters() -> None:
    log = simulate_transactions(20_000, exact_times=True, seed=5)
    repeat = _summary(log).query("frequency > 0")
    model = GammaGammaModel().fit(repeat["frequency"], repeat["monetary"])
    for name, true in DEFAULT_SPEND_PARAMS.items():
        se = model.standard_errors_[name]
        assert abs(model.params_[name] - true) < 3 * se, (name, model.params_, se)


def test_expected_purchases_track_the_simulation() -> None:
    # The cumulative repeat purchases of a simulated cohort follow E[X(t)].
    n = 20_000
    log = simulate_transactions(n, acquisition_weeks=1e-9, exact_times=True, seed=2)
    repeats = len(log) - n
    model = BetaGeoModel.from_params(DEFAULT_PARAMS["bgnbd"])
    expected = n * float(model.expected_purchases_new(78))
    assert repeats == pytest.approx(expected, rel=0.05)
