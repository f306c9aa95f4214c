"""Predictions computed in batches of discount steps equal step-by-step ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvframe.data.summary import summarise
from clvframe.estimators import base
from clvframe.estimators.probabilistic import BetaGeoEstimator
from clvframe.estimators.probabilistic import ParetoNBDEstimator
from clvframe.estimators.valuation import Valuation
from clvframe.models import BetaGeoModel
from clvframe.models.synthetic import simulate_transactions


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    return summarise(simulate_transactions(2000, seed=3), time_unit="week")


def test_bgnbd_expected_purchases_at_several_horizons_equal_one_by_one(summary):
    model = BetaGeoModel.from_params({"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4})
    f, r, t = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    horizons = np.array([0.0, 1e-7, 4.345, 26.0, 52.14])
    together = model.conditional_expected_purchases_at(horizons, f, r, t)
    for row, h in zip(together, horizons, strict=True):
        np.testing.assert_allclose(
            row, model.conditional_expected_purchases(h, f, r, t), rtol=1e-13
        )


@pytest.mark.parametrize("estimator_cls", [BetaGeoEstimator, ParetoNBDEstimator])
def test_predict_in_small_batches_equals_step_by_step(
    summary, estimator_cls, monkeypatch
):
    estimator = estimator_cls().fit(summary)
    valuation = Valuation(
        discount_rate=0.01, discount_period="month", discount_step="month"
    )
    batched = estimator.predict(
        summary, horizon=12, horizon_unit="month", valuation=valuation
    )
    # Recompute with one step per batch and the cache bypassed: each step
    # end from _cumulative_purchases, discounted by hand.
    monkeypatch.setattr(base._BatchedCumulative, "BUDGET", 1)
    one_at_a_time = estimator.predict(
        summary, horizon=12, horizon_unit="month", valuation=valuation
    )
    pd.testing.assert_frame_equal(batched, one_at_a_time, rtol=1e-13)
    ends, factors = valuation.schedule(12 * valuation.month_days)
    previous, clv = 0.0, 0.0
    for end, factor in zip(ends, factors, strict=True):
        current = estimator._cumulative_purchases(summary, end / 7.0)
        clv = clv + (current - previous) * factor
        previous = current
    spend = estimator._spend_per_purchase(summary)
    np.testing.assert_allclose(
        batched["clv"], clv * spend * valuation.margin, rtol=1e-12
    )
    np.testing.assert_allclose(batched["expected_purchases"], previous, rtol=1e-12)
