"""Figures and tables of a finished run, for MLflow artifacts and reports."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
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
    figures.update(_heatmaps(result))
    return figures


def _heatmaps(result: RunResult) -> dict[str, Figure]:
    """Expected purchases and P(alive) over frequency and recency.

    Drawn for the purchase models (BG/NBD, Pareto/NBD, MBG/NBD), whose
    forecasts depend on (frequency, recency, T) only; cells are customers as
    old as the oldest customer, forecast over the run's horizon.
    """
    estimator = result.estimator
    model = getattr(estimator, "model_", None)
    if model is None or not hasattr(estimator, "expected_purchases_new"):
        return {}
    if getattr(estimator, "name", "") in ("bgbb", "sbg"):
        return {}
    summary = result.customers
    max_t = float(summary["T"].max())
    max_frequency = int(min(max(summary["frequency"].quantile(0.99), 5), 50))
    cfg = result.config
    horizon = (
        float(cfg.forecast.horizon)
        * units.unit_days(
            str(cfg.forecast.horizon_unit), month_days=float(cfg.data.month_days)
        )
        / units.unit_days(estimator.time_unit_, month_days=float(cfg.data.month_days))
    )
    unit = f"{estimator.time_unit_}s"
    return {
        "heatmap_expected_purchases": plots.plot_frequency_recency_heatmap(
            _on_possible_histories(
                lambda f, r, t: model.conditional_expected_purchases(horizon, f, r, t)
            ),
            max_frequency,
            max_t,
            f"Expected purchases in the next {horizon:g} {unit}, by history",
            value_label="expected purchases",
            unit=unit,
        ),
        "heatmap_p_alive": plots.plot_frequency_recency_heatmap(
            _on_possible_histories(model.p_alive),
            max_frequency,
            max_t,
            "P(alive), by history",
            value_label="P(alive)",
            unit=unit,
        ),
    }


def _on_possible_histories(
    func: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """Evaluate ``func`` where a history can exist; NaN (a blank cell) elsewhere.

    No customer has repeat purchases with recency 0, or recency without
    repeat purchases, and the models refuse such rows.
    """

    def evaluate(f: np.ndarray, r: np.ndarray, t: np.ndarray) -> np.ndarray:
        possible = ((f == 0) & (r == 0)) | ((f > 0) & (r > 0))
        values = np.full(f.shape, np.nan)
        values[possible] = func(f[possible], r[possible], t[possible])
        return values

    return evaluate


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
