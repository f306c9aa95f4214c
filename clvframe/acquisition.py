"""The acquisition budget: what a new customer is worth, and may cost to win.

From a fitted probabilistic model (anything with ``new_customer_clv``), a run
reports the expected CLV of a newly acquired customer over the forecast
horizon, with the run's margin and discounting, and the most a business can
spend to acquire one at a target CLV-to-acquisition-cost ratio (3 by default,
``acquisition.target_ratio``). When the log holds customers first seen in
several months, a cohort table sets each acquisition month's historic and
predicted CLV beside that benchmark.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

import pandas as pd
from omegaconf import OmegaConf

from clvframe.errors import ConfigError

if TYPE_CHECKING:
    from clvframe.estimators.valuation import Valuation
    from clvframe.experiment import RunResult

METRIC_NEW_CUSTOMER_CLV = "acquisition_new_customer_clv"
METRIC_MAX_COST = "acquisition_max_cost"
COHORT_TABLE = "acquisition_cohorts"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AcquisitionBudget:
    """What a new customer is worth and may cost.

    Attributes:
        new_customer_clv: Expected CLV of a newly acquired customer.
        max_cost: ``new_customer_clv / target_ratio``.
        target_ratio: The CLV-to-acquisition-cost target.
        cohorts: Per month of first purchase, or ``None`` when the log holds
            a single month (see :func:`cohort_table`).
    """

    new_customer_clv: float
    max_cost: float
    target_ratio: float
    cohorts: pd.DataFrame | None = None

    def metrics(self) -> dict[str, float]:
        """The budget as run metrics."""
        return {
            METRIC_NEW_CUSTOMER_CLV: self.new_customer_clv,
            METRIC_MAX_COST: self.max_cost,
        }


def cohort_table(customers: pd.DataFrame, new_customer_clv: float) -> pd.DataFrame:
    """Customers and mean historic and predicted CLV per acquisition month.

    Args:
        customers: One row per customer with ``first_purchase``, ``clv`` and
            ``historic_clv``.
        new_customer_clv: The model's value of a newly acquired customer; the
            model has no cohort effect, so this benchmark is the same in every
            row.

    Returns:
        Indexed by ``cohort`` (``YYYY-MM``): ``customers``,
        ``mean_historic_clv`` (spend to date, with margin),
        ``mean_predicted_clv`` (over the horizon) and ``new_customer_clv``.
    """
    month = customers["first_purchase"].dt.to_period("M").astype(str)
    grouped = customers.groupby(month.rename("cohort"), sort=True)
    table = pd.DataFrame(
        {
            "customers": grouped.size(),
            "mean_historic_clv": grouped["historic_clv"].mean(),
            "mean_predicted_clv": grouped["clv"].mean(),
        }
    )
    table["new_customer_clv"] = float(new_customer_clv)
    return table


def acquisition_budget(
    estimator: Any,
    customers: pd.DataFrame,
    *,
    horizon: float,
    horizon_unit: str,
    valuation: Valuation,
    target_ratio: float = 3.0,
) -> AcquisitionBudget | None:
    """The budget from a fitted estimator, or ``None`` if it has no population model.

    Args:
        estimator: A fitted estimator; only those with ``new_customer_clv``
            (the probabilistic ones) give a budget.
        customers: The run's customers (``first_purchase``, ``clv``,
            ``historic_clv``), for the cohort table.
        horizon: Forecast horizon.
        horizon_unit: Its unit.
        valuation: Margin and discounting.
        target_ratio: CLV-to-acquisition-cost target.

    Raises:
        ConfigError: ``target_ratio`` is not a positive number.
    """
    if not (isinstance(target_ratio, int | float) and target_ratio > 0):
        raise ConfigError(
            "acquisition.target_ratio: must be a number > 0 (3 means CLV is three "
            f"times the acquisition cost); got {target_ratio!r}."
        )
    if not hasattr(estimator, "new_customer_clv"):
        logger.debug("No acquisition budget: %s has no population model", estimator)
        return None
    value = estimator.new_customer_clv(horizon, horizon_unit, valuation)
    cohorts = None
    needed = {"first_purchase", "clv", "historic_clv"}
    if needed <= set(customers.columns):
        months = customers["first_purchase"].dt.to_period("M").nunique()
        if months > 1:
            cohorts = cohort_table(customers, value)
    budget = AcquisitionBudget(
        value, value / float(target_ratio), float(target_ratio), cohorts
    )
    logger.info(
        "A new customer is worth %.2f; at a CLV:cost target of %g, acquire for at "
        "most %.2f",
        budget.new_customer_clv,
        budget.target_ratio,
        budget.max_cost,
    )
    return budget


def add_acquisition_budget(result: RunResult) -> AcquisitionBudget | None:
    """Compute a run's budget; add its metrics and cohort table to the result."""
    cfg = result.config
    from clvframe.experiment import valuation_from_config

    budget = acquisition_budget(
        result.estimator,
        result.customers,
        horizon=float(cfg.forecast.horizon),
        horizon_unit=str(cfg.forecast.horizon_unit),
        valuation=valuation_from_config(cfg),
        target_ratio=OmegaConf.select(cfg, "acquisition.target_ratio", default=3.0),
    )
    if budget is None:
        return None
    result.metrics.update(budget.metrics())
    if budget.cohorts is not None:
        result.tables[COHORT_TABLE] = budget.cohorts
    return budget


def acquisition_renderables(result: RunResult) -> list[Any]:
    """Rich renderables for the run summary: the budget line and cohort table."""
    from rich.table import Table
    from rich.text import Text

    metrics = result.metrics
    if METRIC_NEW_CUSTOMER_CLV not in metrics:
        return []
    cfg = result.config
    ratio = OmegaConf.select(cfg, "acquisition.target_ratio", default=3.0)
    line = Text(
        f"Acquisition budget: a new customer is worth "
        f"{metrics[METRIC_NEW_CUSTOMER_CLV]:,.2f} over {cfg.forecast.horizon:g} "
        f"{cfg.forecast.horizon_unit}s (first purchase plus discounted repeat "
        f"purchases, margin {cfg.forecast.margin:g}); at a CLV-to-cost target of "
        f"{ratio:g}, spend at most {metrics[METRIC_MAX_COST]:,.2f} to win one."
    )
    renderables: list[Any] = [line]
    cohorts = result.tables.get(COHORT_TABLE) if hasattr(result, "tables") else None
    if cohorts is not None:
        table = Table(
            title="Acquisition cohorts (month of first purchase)", title_justify="left"
        )
        table.add_column("cohort")
        for column in cohorts.columns:
            table.add_column(column.replace("_", " "), justify="right")
        for cohort, row in cohorts.iterrows():
            table.add_row(
                str(cohort),
                f"{row['customers']:,.0f}",
                *(f"{row[c]:,.2f}" for c in cohorts.columns[1:]),
            )
        renderables.append(table)
    return renderables
