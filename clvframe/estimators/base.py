"""The estimator contract shared by every CLV model.

Estimators follow scikit-learn's conventions: ``__init__`` only stores its
keyword arguments (they map one-to-one onto ``estimator.params`` in the
config), ``fit`` returns ``self``, fitted attributes end in ``_``, and scoring
methods start with :func:`check_is_fitted`. A fitted estimator carries its
time unit; a forecast asked in another unit is converted, never reinterpreted.
"""

from __future__ import annotations

import logging
from typing import ClassVar
from typing import Self

import numpy as np
import pandas as pd

from clvframe._component import Component
from clvframe.data.summary import CustomerData
from clvframe.data.units import unit_days
from clvframe.errors import ConfigError
from clvframe.errors import NotFittedError
from clvframe.estimators.valuation import Valuation
from clvframe.estimators.valuation import discounted_value

PREDICTION_COLUMNS = ("expected_purchases", "p_alive", "expected_spend", "clv")

logger = logging.getLogger(__name__)


def check_is_fitted(estimator: object) -> None:
    """Raise :class:`NotFittedError` unless ``estimator`` has been fitted."""
    fitted = [k for k in vars(estimator) if k.endswith("_") and not k.startswith("_")]
    if not fitted:
        raise NotFittedError(
            f"{type(estimator).__name__} is not fitted yet; call fit() before "
            "predicting."
        )


class CLVEstimator(Component):
    """Base class of CLV estimators.

    Subclasses set ``name`` (used in configs and the registry) and implement
    :meth:`fit` and :meth:`_cumulative_purchases` and :meth:`_spend_per_purchase`
    (or override :meth:`predict` altogether).
    """

    config_group = "estimator"
    kind: ClassVar[str] = ""
    defines_p_alive: ClassVar[bool] = False

    time_unit_: str

    # -- fitting and prediction ----------------------------------------------

    def fit(self, data: CustomerData) -> Self:
        """Fit on the calibration data; return ``self``."""
        raise NotImplementedError

    def _cumulative_purchases(self, summary: pd.DataFrame, t: float) -> np.ndarray:
        """Expected purchases of each customer in the next ``t`` model units."""
        raise NotImplementedError

    def _spend_per_purchase(self, summary: pd.DataFrame) -> np.ndarray:
        """Expected spend of each future purchase, per customer."""
        raise NotImplementedError

    def _p_alive(self, summary: pd.DataFrame) -> np.ndarray:
        return np.full(len(summary), np.nan)

    def predict(
        self,
        data: CustomerData,
        *,
        horizon: float,
        horizon_unit: str | None = None,
        valuation: Valuation | None = None,
    ) -> pd.DataFrame:
        """Forecast each customer over a horizon.

        Args:
            data: The customers to score, summarised up to the scoring date.
            horizon: Length of the forecast.
            horizon_unit: Unit of ``horizon``; the model's own unit by default.
            valuation: Margin and discounting for the ``clv`` column.

        Returns:
            Indexed by customer_id: ``expected_purchases``, ``p_alive`` (NaN
            where the model has no notion of it), ``expected_spend``
            (undiscounted revenue) and ``clv`` (margin applied, discounted).
        """
        check_is_fitted(self)
        valuation = (valuation or Valuation()).check()
        summary = self._summary_in_model_unit(data)
        month_days = valuation.month_days
        model_days = unit_days(self.time_unit_, month_days=month_days)
        horizon_days = horizon * unit_days(
            horizon_unit or self.time_unit_, month_days=month_days
        )
        if horizon_days <= 0:
            raise ConfigError(f"forecast.horizon must be positive; got {horizon!r}.")
        purchases = self._cumulative_purchases(summary, horizon_days / model_days)
        spend = self._spend_per_purchase(summary)
        clv = discounted_value(
            lambda t: self._cumulative_purchases(summary, t),
            spend,
            horizon_days=horizon_days,
            unit_length_days=model_days,
            valuation=valuation,
        )
        return pd.DataFrame(
            {
                "expected_purchases": purchases,
                "p_alive": self._p_alive(summary),
                "expected_spend": purchases * spend,
                "clv": clv,
            },
            index=summary.index,
        )

    def _summary_in_model_unit(self, data: CustomerData) -> pd.DataFrame:
        summary = data.summary
        if data.time_unit == self.time_unit_:
            return summary
        factor = data.unit_days() / unit_days(self.time_unit_, month_days=data.month_days)
        return summary.assign(recency=summary["recency"] * factor, T=summary["T"] * factor)
