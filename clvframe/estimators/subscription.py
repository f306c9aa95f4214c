"""Built-in ``sbg`` estimator: subscription retention and residual value.

The shifted-beta-geometric model (Fader and Hardie, 2007) describes contracts
renewed once a period. The log is read as a log of payments: a customer's
payments are binned into billing periods counted from the first payment, and a
customer who has not paid for the period holding the observation end has
churned. CLV is the revenue of the expected future payments, discounted, with
the margin; ``derl_clv`` gives the same without a horizon, from the discounted
expected residual lifetime (Fader and Hardie, 2010).
"""

from __future__ import annotations

import logging
from typing import Any
from typing import Self

import numpy as np
import pandas as pd

from clvframe.data.summary import CustomerData
from clvframe.data.transactions import purchase_periods
from clvframe.data.units import unit_days
from clvframe.errors import DataValidationError
from clvframe.estimators.base import CLVEstimator
from clvframe.estimators.base import check_is_fitted
from clvframe.estimators.valuation import Valuation
from clvframe.hooks import hookimpl
from clvframe.models.sbg import ShiftedBetaGeometricModel

logger = logging.getLogger(__name__)


def subscription_summary(
    data: CustomerData, period: str, *, grace_days: float = 0.0
) -> pd.DataFrame:
    """Read a log as paid billing periods, counted from each first payment.

    Returns:
        Indexed by customer_id: ``payments`` (paid periods), ``churned``
        (no payment for the period holding the observation end, less the
        grace days), ``periods_completed`` (period ends passed: payments if
        churned, payments - 1 if still subscribed) and ``revenue_per_period``
        (mean amount of the paid periods).

    Raises:
        DataValidationError: The data has no log.
    """
    if data.transactions is None:
        raise DataValidationError(
            "sbg: needs the payment log, or a cohort table with an 'alive' column."
        )
    length = unit_days(period, month_days=data.month_days)
    paid = purchase_periods(data.transactions, grain="day", returns=data.returns)
    codes = paid.customer_codes
    n_customers = len(paid.customers)
    first = np.full(n_customers, np.inf)
    np.minimum.at(first, codes, paid.period)
    index = np.floor((paid.period - first[codes]) / length).astype("int64")
    frame = pd.DataFrame({"code": codes, "k": index, "amount": paid.amount})
    per_period = frame.groupby(["code", "k"], sort=False)["amount"].sum().reset_index()
    grouped = per_period.groupby("code")
    codes_seen = grouped.size().index.to_numpy()
    payments = grouped.size().to_numpy()
    last = grouped["k"].max().to_numpy()
    gaps = int(np.sum(last + 1 != payments))
    if gaps:
        logger.info(
            "%d customers skipped a period and came back; counted as paying", gaps
        )
    end = (
        data.observation_end.value / 86_400e9
        if data.observation_end is not None
        else paid.period.max()
    )
    current = np.floor((end - grace_days - first[codes_seen]) / length).astype("int64")
    churned = last < current
    tenure = last + 1
    return pd.DataFrame(
        {
            "payments": tenure,
            "churned": churned,
            "periods_completed": np.where(churned, tenure, tenure - 1),
            "revenue_per_period": grouped["amount"].mean().to_numpy(),
        },
        index=pd.Index(paid.customers[codes_seen], name="customer_id", dtype="object"),
    )


class ShiftedBetaGeometricEstimator(CLVEstimator):
    """sBG retention for subscriptions; CLV from expected future payments.

    Args:
        period: Billing period (day, week, month or year).
        grace_days: Days after a period starts before a missing payment means
            churn.
        penalizer: L2 penalty on the log-parameters.
        max_iter: Most optimiser iterations.
    """

    name = "sbg"
    kind = "probabilistic"
    defines_p_alive = True

    def __init__(
        self,
        period: str = "month",
        grace_days: float = 0.0,
        penalizer: float = 0.0,
        max_iter: int = 1000,
    ) -> None:
        self.period = period
        self.grace_days = grace_days
        self.penalizer = penalizer
        self.max_iter = max_iter

    def fit(self, data: CustomerData | pd.DataFrame) -> Self:
        """Fit on a payment log, or on a cohort table.

        A frame with an ``alive`` column (customers still subscribed at the
        start of each period, the cohort size first) is a cohort table.
        """
        model = ShiftedBetaGeometricModel(
            penalizer=self.penalizer, max_iter=self.max_iter
        )
        if isinstance(data, pd.DataFrame) and "alive" in data:
            model.fit_survival(data["alive"].to_numpy())
        else:
            summary = self._summary_in_model_unit(data)
            model.fit(summary["periods_completed"], summary["churned"])
        self.model_ = model
        self.params_ = dict(model.params_)
        self.log_likelihood_ = float(model.log_likelihood_)
        self.n_customers_ = int(model.n_customers_)
        self.time_unit_ = self.period
        logger.info("Fitted %s on %d customers", self.name, self.n_customers_)
        return self

    def _summary_in_model_unit(self, data: CustomerData | pd.DataFrame) -> pd.DataFrame:
        if isinstance(data, CustomerData) and data.transactions is not None:
            return subscription_summary(data, self.period, grace_days=self.grace_days)
        summary = data.summary if isinstance(data, CustomerData) else data
        if not {"payments", "churned"} <= set(summary):
            raise DataValidationError(
                "sbg: needs the payment log, or a summary with columns 'payments' "
                "and 'churned' (and 'revenue_per_period' for CLV)."
            )
        churned = summary["churned"].to_numpy(dtype=bool)
        payments = summary["payments"].to_numpy(dtype="int64")
        return summary.assign(
            periods_completed=np.where(churned, payments, payments - 1)
        )

    def survival(self, periods: np.ndarray | int) -> np.ndarray:
        """Share of a new cohort still subscribed after ``periods`` periods."""
        check_is_fitted(self)
        return np.asarray(self.model_.survival(periods), dtype="float64")

    def _cumulative_purchases(self, summary: pd.DataFrame, t: float) -> np.ndarray:
        # Expected future payments in the next t periods of a subscriber who
        # has paid k: sum over j of S(k + j - 1) / S(k - 1); none if churned.
        k = summary["payments"].to_numpy(dtype="int64")
        horizon = int(np.floor(t + 1e-9))
        if horizon == 0:
            return np.zeros(len(summary))
        j = np.arange(1, horizon + 1)
        survived = self.model_.survival(np.maximum(k - 1, 0))
        ahead = self.model_.survival(k[:, None] + j[None, :] - 1)
        expected = ahead.sum(axis=1) / survived
        return np.where(summary["churned"].to_numpy(dtype=bool), 0.0, expected)

    def _p_alive(self, summary: pd.DataFrame) -> np.ndarray:
        return np.where(summary["churned"].to_numpy(dtype=bool), 0.0, 1.0)

    def _p_repurchase(self, summary: pd.DataFrame, t: float) -> np.ndarray:
        k = summary["payments"].to_numpy(dtype="int64")
        if np.floor(t + 1e-9) < 1:
            return np.zeros(len(summary))
        renew = self.model_.survival(k) / self.model_.survival(np.maximum(k - 1, 0))
        return np.where(summary["churned"].to_numpy(dtype=bool), 0.0, renew)

    def _spend_per_purchase(self, summary: pd.DataFrame) -> np.ndarray:
        if "revenue_per_period" not in summary:
            return np.full(len(summary), np.nan)
        return summary["revenue_per_period"].to_numpy(dtype="float64")

    def predict(
        self,
        data: CustomerData | pd.DataFrame,
        *,
        horizon: float,
        horizon_unit: str | None = None,
        valuation: Valuation | None = None,
    ) -> pd.DataFrame:
        """Forecast over a horizon, plus ``derl_clv`` with no horizon.

        ``derl_clv`` is the discounted expected residual lifetime (in payments,
        the next one undiscounted) times the revenue per period and the margin;
        0 for churned customers.
        """
        valuation = (valuation or Valuation()).check()
        forecast = super().predict(
            data, horizon=horizon, horizon_unit=horizon_unit, valuation=valuation
        )
        summary = self._summary_in_model_unit(data)
        period_days = unit_days(self.period, month_days=valuation.month_days)
        period_rate = (1 + valuation.discount_rate) ** (
            period_days
            / unit_days(valuation.discount_period, month_days=valuation.month_days)
        ) - 1
        if period_rate <= 0:
            forecast["derl_clv"] = np.nan
            return forecast
        renewals = np.maximum(summary["payments"].to_numpy(dtype="int64") - 1, 0)
        derl = self.model_.derl(period_rate, renewals)
        alive = ~summary["churned"].to_numpy(dtype=bool)
        forecast["derl_clv"] = np.where(
            alive, derl * self._spend_per_purchase(summary) * valuation.margin, 0.0
        )
        return forecast

    def get_state(self) -> dict[str, Any]:
        """Fitted state as plain data."""
        check_is_fitted(self)
        return {
            "time_unit": self.time_unit_,
            "params": dict(self.params_),
            "log_likelihood": self.log_likelihood_,
            "n_customers": self.n_customers_,
        }

    def set_state(self, state: dict[str, Any]) -> Self:
        """Restore a fitted state."""
        self.model_ = ShiftedBetaGeometricModel.from_params(state["params"])
        self.params_ = dict(self.model_.params_)
        self.log_likelihood_ = float(state.get("log_likelihood", np.nan))
        self.n_customers_ = int(state.get("n_customers", 0))
        self.time_unit_ = str(state["time_unit"])
        return self


@hookimpl
def clvframe_register_estimators() -> list[type[CLVEstimator]]:
    """Register the sBG estimator."""
    return [ShiftedBetaGeometricEstimator]
