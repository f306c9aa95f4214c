"""Built-in ``bgbb`` estimator: purchases in discrete opportunities.

Some businesses give customers a fixed number of chances to buy: a yearly
donation drive, an annual event, a monthly box. The BG/BB model (Fader, Hardie
and Shang, 2010) counts, per customer, in how many opportunities after the
first one they bought. This module bins a log into opportunities of a
configured length, counted from each customer's first purchase, and pairs the
model with a spend model.
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
from clvframe.estimators.spend import GammaGammaSpend
from clvframe.estimators.spend import SpendModel
from clvframe.estimators.spend import restore_spend_model
from clvframe.estimators.spend import spend_state
from clvframe.hooks import hookimpl
from clvframe.models.bgbb import BetaGeoBetaBinomModel

OPPORTUNITY_COLUMNS = ("frequency", "recency", "n_periods")

logger = logging.getLogger(__name__)


def opportunity_summary(data: CustomerData, opportunity: str) -> pd.DataFrame:
    """Summarise a log in opportunities counted from each first purchase.

    Opportunity 0 holds the first purchase; opportunity ``k`` covers the days
    ``[k * L, (k + 1) * L)`` after it, ``L`` being the opportunity length. Only
    opportunities that ended by the observation end are counted.

    Returns:
        Indexed by customer_id: ``frequency`` (opportunities after the first
        with a purchase), ``recency`` (the last such opportunity, 0 without
        one), ``n_periods`` (complete opportunities after the first) and
        ``monetary_value`` (mean amount of the repeat opportunities).

    Raises:
        DataValidationError: The data has no log, or no customer has a
            complete opportunity after the first.
    """
    if data.transactions is None:
        raise DataValidationError(
            "bgbb: needs the transaction log, or a summary with columns "
            f"{list(OPPORTUNITY_COLUMNS)} counted in opportunities."
        )
    length = unit_days(opportunity, month_days=data.month_days)
    periods = purchase_periods(
        data.transactions, grain=data.grain, returns=data.returns
    )
    codes = periods.customer_codes
    first = np.full(len(periods.customers), np.inf)
    np.minimum.at(first, codes, periods.period)
    seen = np.isfinite(first)
    end = (
        data.observation_end.value / 86_400e9
        if data.observation_end is not None
        else (periods.period.max())
    )
    n_periods = np.floor((end + 1.0 - first) / length).astype("int64") - 1
    offset = np.floor((periods.period - first[codes]) / length).astype("int64")
    repeat = (offset >= 1) & (offset <= n_periods[codes])
    frame = pd.DataFrame(
        {"code": codes[repeat], "k": offset[repeat], "amount": periods.amount[repeat]}
    )
    per_opportunity = (
        frame.groupby(["code", "k"], sort=False)["amount"].sum().reset_index()
    )
    grouped = per_opportunity.groupby("code")
    n_customers = len(periods.customers)
    frequency = np.zeros(n_customers, dtype="int64")
    recency = np.zeros(n_customers, dtype="int64")
    monetary = np.zeros(n_customers)
    index = grouped.size().index.to_numpy()
    frequency[index] = grouped.size().to_numpy()
    recency[index] = grouped["k"].max().to_numpy()
    monetary[index] = grouped["amount"].mean().to_numpy()
    summary = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": recency,
            "n_periods": np.maximum(n_periods, 0),
            "monetary_value": monetary,
        },
        index=pd.Index(periods.customers, name="customer_id", dtype="object"),
    )[seen]
    if not (summary["n_periods"] > 0).any():
        raise DataValidationError(
            f"bgbb: no customer has a complete {opportunity} after their first "
            f"purchase by the observation end; use a shorter opportunity or a "
            "longer log."
        )
    return summary


class BetaGeoBetaBinomEstimator(CLVEstimator):
    """BG/BB for purchases in discrete opportunities, with a spend model.

    Args:
        opportunity: Length of one opportunity (day, week, month or year).
        penalizer: L2 penalty on the log-parameters (0 for the exact MLE).
        max_iter: Most optimiser iterations.
        spend_model: A spend model instance; Gamma-Gamma when ``None``.
    """

    name = "bgbb"
    kind = "probabilistic"
    defines_p_alive = True

    def __init__(
        self,
        opportunity: str = "year",
        penalizer: float = 0.0,
        max_iter: int = 1000,
        spend_model: SpendModel | None = None,
    ) -> None:
        self.opportunity = opportunity
        self.penalizer = penalizer
        self.max_iter = max_iter
        self.spend_model = spend_model

    def _opportunities(self, data: CustomerData | pd.DataFrame) -> pd.DataFrame:
        if isinstance(data, pd.DataFrame):
            data = CustomerData(summary=data, time_unit=self.opportunity)
        summary = data.summary
        if data.transactions is None and set(OPPORTUNITY_COLUMNS) <= set(summary):
            return summary
        return opportunity_summary(data, self.opportunity)

    def fit(self, data: CustomerData | pd.DataFrame) -> Self:
        """Fit on the log binned into opportunities, or on a compressed table.

        A summary with ``frequency``, ``recency``, ``n_periods`` (and
        optionally ``weights``, customers per row) is used as it is.
        """
        summary = self._opportunities(data)
        weights = summary["weights"].to_numpy() if "weights" in summary else None
        model = BetaGeoBetaBinomModel(penalizer=self.penalizer, max_iter=self.max_iter)
        model.fit(*self._arrays(summary), weights=weights)
        spend = self.spend_model if self.spend_model is not None else GammaGammaSpend()
        # Without amounts, or without repeat buyers, spend and CLV are NaN.
        has_spend = "monetary_value" in summary and (summary["frequency"] > 0).any()
        self.spend_model_ = spend.fit(summary) if has_spend else None
        self.model_ = model
        self.params_ = dict(model.params_)
        self.log_likelihood_ = float(model.log_likelihood_)
        self.time_unit_ = self.opportunity
        self.n_customers_ = int(model.n_customers_)
        logger.info("Fitted %s on %d customers", self.name, self.n_customers_)
        return self

    @staticmethod
    def _arrays(summary: pd.DataFrame) -> tuple[np.ndarray, ...]:
        return tuple(summary[c].to_numpy(dtype="float64") for c in OPPORTUNITY_COLUMNS)

    def _summary_in_model_unit(self, data: CustomerData) -> pd.DataFrame:
        return self._opportunities(data)

    def _cumulative_purchases(self, summary: pd.DataFrame, t: float) -> np.ndarray:
        # Only whole opportunities happen: a horizon of 1.5 years holds one.
        whole = np.floor(t + 1e-9)
        return np.asarray(
            self.model_.conditional_expected_purchases(whole, *self._arrays(summary)),
            dtype="float64",
        )

    def _p_alive(self, summary: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model_.p_alive(*self._arrays(summary)), dtype="float64")

    def _p_repurchase(self, summary: pd.DataFrame, t: float) -> np.ndarray:
        whole = np.floor(t + 1e-9)
        none = self.model_.p_n_purchases(0, whole, *self._arrays(summary))
        return np.clip(1.0 - np.asarray(none, dtype="float64"), 0.0, 1.0)

    def _spend_per_purchase(self, summary: pd.DataFrame) -> np.ndarray:
        if self.spend_model_ is None:
            return np.full(len(summary), np.nan)
        return self.spend_model_.expected_spend(summary)

    def expected_purchases_new(self, t: np.ndarray | float) -> np.ndarray:
        """Expected purchases in the first ``t`` opportunities of a new customer."""
        check_is_fitted(self)
        return np.asarray(
            self.model_.expected_purchases_new(np.floor(np.asarray(t) + 1e-9)),
            dtype="float64",
        )

    def get_state(self) -> dict[str, Any]:
        """Fitted state as plain data."""
        check_is_fitted(self)
        return {
            "time_unit": self.time_unit_,
            "params": dict(self.params_),
            "log_likelihood": self.log_likelihood_,
            "n_customers": self.n_customers_,
            "spend_model": spend_state(self.spend_model_),
        }

    def set_state(self, state: dict[str, Any]) -> Self:
        """Restore a fitted state."""
        self.model_ = BetaGeoBetaBinomModel.from_params(state["params"])
        self.params_ = dict(self.model_.params_)
        self.log_likelihood_ = float(state.get("log_likelihood", np.nan))
        self.n_customers_ = int(state.get("n_customers", 0))
        self.time_unit_ = str(state["time_unit"])
        self.spend_model_ = restore_spend_model(state.get("spend_model"))
        return self


@hookimpl
def clvframe_register_estimators() -> list[type[CLVEstimator]]:
    """Register the BG/BB estimator."""
    return [BetaGeoBetaBinomEstimator]
