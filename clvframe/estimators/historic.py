"""Built-in ``historic`` estimator: what customers spent, and the naive forecast.

Historic CLV is what each customer has spent to date (with the margin). The
forecast assumes each customer keeps their own pace: repeat purchases at the
rate observed since their first purchase (frequency / T) and the mean amount
of their repeat purchases. It is the baseline every model must beat.
"""

from __future__ import annotations

import logging
from typing import Self

import numpy as np
import pandas as pd

from clvframe.data.summary import CustomerData
from clvframe.data.summary import check_summary
from clvframe.estimators.base import CLVEstimator
from clvframe.hooks import hookimpl

logger = logging.getLogger(__name__)


class HistoricEstimator(CLVEstimator):
    """Naive forecast: each customer's own repeat rate and mean repeat spend.

    Customers without repeat purchases are forecast to buy nothing more. This
    model has no notion of P(alive).
    """

    name = "historic"
    kind = "historic"

    def __init__(self) -> None:
        pass

    def fit(self, data: CustomerData) -> Self:
        """Record the time unit; the model has no parameters to learn."""
        summary = check_summary(data.summary)
        self.time_unit_ = data.time_unit
        self.n_customers_ = len(summary)
        logger.info("Fitted %s on %d customers", self.name, self.n_customers_)
        return self

    def _cumulative_purchases(self, summary: pd.DataFrame, t: float) -> np.ndarray:
        frequency = summary["frequency"].to_numpy(dtype="float64")
        age = summary["T"].to_numpy(dtype="float64")
        rate = np.divide(frequency, age, out=np.zeros_like(frequency), where=age > 0)
        return rate * t

    def _spend_per_purchase(self, summary: pd.DataFrame) -> np.ndarray:
        return summary["monetary_value"].to_numpy(dtype="float64")

    def get_state(self) -> dict[str, object]:
        """Fitted state as plain data."""
        return {"time_unit": self.time_unit_}

    def set_state(self, state: dict[str, object]) -> Self:
        """Restore the fitted state written by :meth:`get_state`."""
        self.time_unit_ = str(state["time_unit"])
        self.n_customers_ = 0
        return self


@hookimpl
def clvframe_register_estimators() -> list[type[CLVEstimator]]:
    """Register the historic estimator."""
    return [HistoricEstimator]
