"""Built-in probabilistic estimators: a purchase model paired with a spend model.

The purchase models ("buy till you die") fit on the per-customer summary
(frequency, recency, T) by maximum likelihood; the spend model (Gamma-Gamma by
default) forecasts the value of each purchase. The maths lives in
:mod:`clvframe.models`; this module adds units, horizons and CLV.
"""

from __future__ import annotations

import logging
from typing import Any
from typing import ClassVar
from typing import Self

import numpy as np
import pandas as pd

from clvframe.data.summary import CustomerData
from clvframe.data.summary import check_summary
from clvframe.estimators.base import CLVEstimator
from clvframe.estimators.base import check_is_fitted
from clvframe.estimators.spend import GammaGammaSpend
from clvframe.estimators.spend import SpendModel
from clvframe.hooks import hookimpl
from clvframe.models.bgnbd import BetaGeoModel

logger = logging.getLogger(__name__)


class PurchaseModelEstimator(CLVEstimator):
    """A purchase-frequency model from :mod:`clvframe.models` with a spend model.

    Args:
        penalizer: L2 penalty on the log-parameters (0 for the exact MLE).
        max_iter: Most optimiser iterations.
        spend_model: A fitted-or-not spend model instance; Gamma-Gamma when
            ``None``.
    """

    kind = "probabilistic"
    defines_p_alive = True
    model_cls: ClassVar[type[Any]]

    def __init__(
        self,
        penalizer: float = 0.0,
        max_iter: int = 1000,
        spend_model: SpendModel | None = None,
    ) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter
        self.spend_model = spend_model

    def fit(self, data: CustomerData | pd.DataFrame) -> Self:
        """Fit the purchase model and the spend model on the calibration data.

        Args:
            data: Customer data, or a summary frame (then in weeks unless its
                ``attrs["time_unit"]`` says otherwise).
        """
        data = _as_customer_data(data)
        summary = check_summary(data.summary)
        model = self.model_cls(penalizer=self.penalizer, max_iter=self.max_iter)
        model.fit(
            summary["frequency"].to_numpy(),
            summary["recency"].to_numpy(),
            summary["T"].to_numpy(),
        )
        spend = self.spend_model if self.spend_model is not None else GammaGammaSpend()
        if "monetary_value" in summary.columns:
            spend.fit(summary)
        self.model_ = model
        self.spend_model_ = spend
        self.params_ = dict(model.params_)
        self.log_likelihood_ = float(model.log_likelihood_)
        self.time_unit_ = data.time_unit
        self.n_customers_ = len(summary)
        logger.info(
            "Fitted %s on %d customers (log-likelihood %.2f)",
            self.name,
            self.n_customers_,
            self.log_likelihood_,
        )
        return self

    def _arrays(self, summary: pd.DataFrame) -> tuple[np.ndarray, ...]:
        return tuple(summary[c].to_numpy(dtype="float64") for c in ("frequency", "recency", "T"))

    def _cumulative_purchases(self, summary: pd.DataFrame, t: float) -> np.ndarray:
        return np.asarray(
            self.model_.conditional_expected_purchases(t, *self._arrays(summary)),
            dtype="float64",
        )

    def _p_alive(self, summary: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model_.p_alive(*self._arrays(summary)), dtype="float64")

    def _spend_per_purchase(self, summary: pd.DataFrame) -> np.ndarray:
        if not hasattr(self.spend_model_, "get_state") or "monetary_value" not in summary:
            return np.full(len(summary), np.nan)
        return self.spend_model_.expected_spend(summary)

    def expected_purchases_new(self, t: np.ndarray | float) -> np.ndarray:
        """Expected repeat purchases in ``t`` model units of a new customer."""
        check_is_fitted(self)
        return np.asarray(self.model_.expected_purchases_new(t), dtype="float64")

    def get_state(self) -> dict[str, Any]:
        """Fitted state as plain data (JSON-serialisable)."""
        check_is_fitted(self)
        return {
            "time_unit": self.time_unit_,
            "params": dict(self.params_),
            "log_likelihood": self.log_likelihood_,
            "n_customers": self.n_customers_,
            "spend_model": {
                "name": self.spend_model_.name,
                "state": self.spend_model_.get_state(),
            },
        }

    def set_state(self, state: dict[str, Any]) -> Self:
        """Restore a fitted state; the spend model is found by its name."""
        from clvframe._plugins import build_registry

        self.model_ = self.model_cls.from_params(state["params"])
        self.params_ = dict(self.model_.params_)
        self.log_likelihood_ = float(state.get("log_likelihood", np.nan))
        self.n_customers_ = int(state.get("n_customers", 0))
        self.time_unit_ = str(state["time_unit"])
        spend = state["spend_model"]
        spend_cls = build_registry().get("spend_model", spend["name"]).cls
        self.spend_model_ = spend_cls().set_state(spend["state"])
        return self

    def _p_repurchase(self, summary: pd.DataFrame, t: float) -> np.ndarray:
        none = self.model_.p_n_purchases(0, t, *self._arrays(summary))
        return np.clip(1.0 - np.asarray(none, dtype="float64"), 0.0, 1.0)


def _as_customer_data(data: CustomerData | pd.DataFrame) -> CustomerData:
    if isinstance(data, CustomerData):
        return data
    unit = str(data.attrs.get("time_unit", "week"))
    return CustomerData.from_summary(data, time_unit=unit)


class BetaGeoEstimator(PurchaseModelEstimator):
    """BG/NBD (Fader, Hardie and Lee, 2005) with a spend model."""

    name = "bgnbd"
    model_cls = BetaGeoModel


@hookimpl
def clvframe_register_estimators() -> list[type[CLVEstimator]]:
    """Register the built-in probabilistic estimators."""
    return [BetaGeoEstimator]
