"""Figures and tables of a finished run, for MLflow artifacts and reports."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd

from clvframe.data import units
from clvframe.evaluation import plots
from clvframe.evaluation.metrics import decile_table
from clvframe.segmenters.report import plot_segment_table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from clvframe.experiment import RunResult

logger = logging.getLogger(__name__)


def run_tables(result: RunResult) -> dict[str, pd.DataFrame]:
    """The tables a run logs: the segment table and the holdout decile table."""
    tables: dict[str, pd.DataFrame] = {}
    if result.segment_table is not None:
        tables["segments"] = result.segment_table
    if result.holdout is not None:
        tables["holdout_deciles"] = decile_table(result.holdout)
    tables.update(getattr(result, "tables", {}))
    return tables


def run_figures(result: RunResult) -> dict[str, Figure]:
    """The plots of a run, by file stem."""
    figures: dict[str, Figure] = {}
    customers = result.customers
    if result.segmenter is not None and hasattr(result.segmenter, "cut_values"):
        cuts = result.segmenter.cut_values(customers)
    else:
        cuts = {}
    figures["clv_distribution"] = plots.plot_clv_distribution(customers["clv"], cuts)
    if result.segment_table is not None:
        figures["segments"] = plot_segment_table(result.segment_table)
    holdout = result.holdout
    if holdout is not None:
        figures["holdout_gain_curve"] = plots.plot_gain_curve(
            holdout["expected_spend"], holdout["spend_holdout"]
        )
        figures["holdout_deciles"] = plots.plot_deciles(decile_table(holdout))
        figures["holdout_conditional_expectations"] = (
            plots.plot_conditional_expectations(holdout)
        )
        tracking = _tracking_figure(result)
        if tracking is not None:
            figures["holdout_tracking"] = tracking
    return figures


def _tracking_figure(result: RunResult) -> Figure | None:
    estimator = result.calibration_estimator
    if estimator is None or not hasattr(estimator, "expected_purchases_new"):
        return None
    holdout = result.holdout
    assert holdout is not None  # NB: only called when there is a holdout
    unit_days = units.unit_days(
        estimator.time_unit_, month_days=float(result.config.data.month_days)
    )
    start = result.transactions["timestamp"].min().normalize()
    known = result.transactions[result.transactions["customer_id"].isin(holdout.index)]
    days = (known["timestamp"].dt.normalize() - start).dt.days.to_numpy()
    periods = pd.DataFrame({"c": known["customer_id"].to_numpy(), "d": days})
    periods = periods.drop_duplicates().sort_values(["c", "d"])
    repeat = periods["d"].to_numpy()[periods.duplicated("c").to_numpy()]
    first = (holdout["first_purchase"] - start).dt.days.to_numpy() / unit_days
    end = (pd.Timestamp(result.info["observation_end"]) - start).days / unit_days
    cutoff = (pd.Timestamp(result.info["calibration_end"]) - start).days / unit_days
    curve = plots.repeat_transaction_curve(
        first, repeat / unit_days, estimator.expected_purchases_new, end=end
    )
    return plots.plot_tracking(curve, cutoff=cutoff, unit=estimator.time_unit_)
