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
from clvframe.data.units import unit_days
from clvframe.errors import ConfigError
from clvframe.errors import NotFittedError
from clvframe.estimators.base import CLVEstimator
from clvframe.estimators.base import check_is_fitted
from clvframe.estimators.spend import GammaGammaSpend
from clvframe.estimators.spend import SpendModel
from clvframe.estimators.spend import restore_spend_model
from clvframe.estimators.spend import spend_state
from clvframe.estimators.valuation import Valuation
from clvframe.estimators.valuation import discounted_value
from clvframe.hooks import hookimpl
from clvframe.models._validation import group_rows
from clvframe.models.bgnbd import BetaGeoModel
from clvframe.models.mbgnbd import ModifiedBetaGeoModel
from clvframe.models.paretonbd import ParetoNBDModel

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
        if isinstance(data, pd.DataFrame):
            # from_summary checks the frame (and returns it with float
            # columns); checking it again would copy a million rows twice.
            data = _as_customer_data(data)
            summary = data.summary
        else:
            summary = check_summary(data.summary)
        model = self.model_cls(penalizer=self.penalizer, max_iter=self.max_iter)
        model.fit(
            summary["frequency"].to_numpy(),
            summary["recency"].to_numpy(),
            summary["T"].to_numpy(),
        )
        spend = self.spend_model if self.spend_model is not None else GammaGammaSpend()
        # Without amounts (a summary of purchase counts only) the estimator
        # still forecasts purchases; spend and CLV are then NaN.
        self.spend_model_ = (
            spend.fit(summary) if "monetary_value" in summary.columns else None
        )
        self.model_ = model
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
        return tuple(
            summary[c].to_numpy(dtype="float64") for c in ("frequency", "recency", "T")
        )

    def _prediction_rows(
        self, summary: pd.DataFrame
    ) -> tuple[pd.DataFrame, np.ndarray | None]:
        # Purchases, P(alive) and P(repurchase) depend on a customer only
        # through (frequency, recency, T); on the day grain a million
        # customers share a few hundred thousand such rows.
        columns = self._arrays(summary)
        first, inverse = group_rows(columns)
        if first.size > 0.8 * len(summary):
            return summary, None
        rows = pd.DataFrame(
            dict(zip(("frequency", "recency", "T"), (c[first] for c in columns)))
        )
        return rows, inverse

    def _cumulative_purchases(self, summary: pd.DataFrame, t: float) -> np.ndarray:
        return np.asarray(
            self.model_.conditional_expected_purchases(t, *self._arrays(summary)),
            dtype="float64",
        )

    def _cumulative_purchases_at(
        self, summary: pd.DataFrame, times: np.ndarray
    ) -> np.ndarray:
        return np.asarray(
            self.model_.conditional_expected_purchases_at(
                times, *self._arrays(summary)
            ),
            dtype="float64",
        )

    def _p_alive(self, summary: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model_.p_alive(*self._arrays(summary)), dtype="float64")

    def _spend_per_purchase(self, summary: pd.DataFrame) -> np.ndarray:
        if self.spend_model_ is None or "monetary_value" not in summary:
            return np.full(len(summary), np.nan)
        return self.spend_model_.expected_spend(summary)

    def expected_purchases_new(self, t: np.ndarray | float) -> np.ndarray:
        """Expected repeat purchases in ``t`` model units of a new customer."""
        check_is_fitted(self)
        return np.asarray(self.model_.expected_purchases_new(t), dtype="float64")

    def p_purchases(
        self,
        data: CustomerData | pd.DataFrame,
        n: int | np.ndarray,
        *,
        horizon: float,
        horizon_unit: str | None = None,
        month_days: float | None = None,
    ) -> pd.DataFrame:
        """P(exactly ``n`` purchases in the next ``horizon``) for each customer.

        Args:
            data: Customers, as for :meth:`predict`.
            n: One count, or several (one column each).
            horizon: Length of the window.
            horizon_unit: Unit of ``horizon``; the model's unit by default.
            month_days: Days in a month, when a unit is a month.

        Returns:
            Indexed by customer_id, one column ``p_<n>`` per count.
        """
        check_is_fitted(self)
        if isinstance(data, pd.DataFrame):
            data = _as_customer_data(data)
        summary = self._summary_in_model_unit(data)
        days = month_days or data.month_days
        t = horizon * unit_days(horizon_unit or self.time_unit_, month_days=days)
        t /= unit_days(self.time_unit_, month_days=days)
        counts = np.atleast_1d(np.asarray(n, dtype="int64"))
        return pd.DataFrame(
            {
                f"p_{k}": np.asarray(
                    self.model_.p_n_purchases(k, t, *self._arrays(summary)),
                    dtype="float64",
                )
                for k in counts
            },
            index=summary.index,
        )

    def population_mean_spend(self) -> float:
        """Expected spend per purchase of a customer with no history.

        This is what the spend model predicts for frequency 0: ``p v / (q - 1)``
        for Gamma-Gamma, the mean repeat amount for the ``mean`` spend model.

        Raises:
            NotFittedError: The spend model was not fitted (the estimator was
                fitted on a summary without ``monetary_value``).
        """
        check_is_fitted(self)
        if self.spend_model_ is None:
            raise NotFittedError(
                f"{self.name}: the spend model is not fitted, so a new customer's "
                "spend is unknown; fit on a summary with monetary_value."
            )
        probe = pd.DataFrame({"frequency": [0], "monetary_value": [0.0]})
        spend = self.spend_model_.expected_spend(probe)
        return float(np.asarray(spend, dtype="float64")[0])

    def new_customer_clv(
        self,
        horizon: float,
        horizon_unit: str | None = None,
        valuation: Valuation | None = None,
    ) -> float:
        """Expected CLV of a newly acquired customer over ``horizon``.

        Convention: the customer is acquired by a first purchase at time 0 and
        the horizon runs from that purchase. With ``m`` the population mean
        spend per purchase (:meth:`population_mean_spend`), ``E[X(t)]`` the
        model's expected repeat purchases by ``t`` of a customer who first
        bought at 0 (``model_.expected_purchases_new``), and ``t_1 < ... < t_K``
        the ends of the discount steps (the last one cut at the horizon)::

            value = m * margin
                  + sum_k (E[X(t_k)] - E[X(t_(k-1))]) * m * margin * d_k

        where ``E[X(t_0)] = 0`` and ``d_k`` is the discount factor at ``t_k``
        (exactly as for existing customers; see
        :mod:`clvframe.estimators.valuation`). The first purchase is paid at
        acquisition, so it carries the margin but no discount.

        Args:
            horizon: Length of the forecast after acquisition.
            horizon_unit: Unit of ``horizon``; the model's own unit by default.
            valuation: Margin and discounting (no margin cut, 10% a year,
                monthly steps, by default).

        Returns:
            The expected value, in the currency of the amounts.

        Raises:
            ConfigError: The horizon is not positive or a unit is unknown.
        """
        check_is_fitted(self)
        valuation = (valuation or Valuation()).check()
        month_days = valuation.month_days
        model_days = unit_days(self.time_unit_, month_days=month_days)
        horizon_days = float(horizon) * unit_days(
            horizon_unit or self.time_unit_, month_days=month_days
        )
        if not horizon_days > 0:
            raise ConfigError(f"forecast.horizon must be positive; got {horizon!r}.")
        spend = self.population_mean_spend()
        repeat = discounted_value(
            lambda t: self.expected_purchases_new(np.array([t])),
            np.array([spend]),
            horizon_days=horizon_days,
            unit_length_days=model_days,
            valuation=valuation,
        )
        return float(spend * valuation.margin + repeat[0])

    def max_acquisition_cost(
        self,
        horizon: float,
        horizon_unit: str | None = None,
        valuation: Valuation | None = None,
        target_ratio: float = 3.0,
    ) -> float:
        """The most to spend on acquiring one customer at a CLV-to-cost target.

        ``new_customer_clv(horizon, horizon_unit, valuation) / target_ratio``:
        with the usual target of 3, a new customer must be worth three times
        what it cost to win.

        Raises:
            ConfigError: ``target_ratio`` is not a positive number.
        """
        if not (isinstance(target_ratio, int | float) and target_ratio > 0):
            raise ConfigError(
                f"acquisition.target_ratio: must be a number > 0 (3 means CLV is "
                f"three times the acquisition cost); got {target_ratio!r}."
            )
        clv = self.new_customer_clv(horizon, horizon_unit, valuation)
        return clv / float(target_ratio)

    def get_state(self) -> dict[str, Any]:
        """Fitted state as plain data (JSON-serialisable)."""
        check_is_fitted(self)
        return {
            "time_unit": self.time_unit_,
            "params": dict(self.params_),
            "log_likelihood": self.log_likelihood_,
            "n_customers": self.n_customers_,
            "spend_model": spend_state(self.spend_model_),
        }

    def set_state(self, state: dict[str, Any]) -> Self:
        """Restore a fitted state; the spend model is found by its name."""
        self.model_ = self.model_cls.from_params(state["params"])
        self.params_ = dict(self.model_.params_)
        self.log_likelihood_ = float(state.get("log_likelihood", np.nan))
        self.n_customers_ = int(state.get("n_customers", 0))
        self.time_unit_ = str(state["time_unit"])
        self.spend_model_ = restore_spend_model(state.get("spend_model"))
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


class ParetoNBDEstimator(PurchaseModelEstimator):
    """Pareto/NBD (Schmittlein, Morrison and Colombo, 1987) with a spend model."""

    name = "paretonbd"
    model_cls = ParetoNBDModel


class ModifiedBetaGeoEstimator(PurchaseModelEstimator):
    """MBG/NBD (Batislam, Denizel and Filiztekin, 2007) with a spend model."""

    name = "mbgnbd"
    model_cls = ModifiedBetaGeoModel


@hookimpl
def clvframe_register_estimators() -> list[type[CLVEstimator]]:
    """Register the built-in probabilistic estimators."""
    return [BetaGeoEstimator, ParetoNBDEstimator, ModifiedBetaGeoEstimator]
