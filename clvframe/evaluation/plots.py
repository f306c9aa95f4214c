"""Diagnostic plots of a CLV model's holdout performance.

Every function returns a :class:`matplotlib.figure.Figure` built directly, with
no pyplot state, so plotting works headless and never opens a window; save it
with ``figure.savefig(path)``. Each figure has a title, axis labels with units
and a legend where more than one series is drawn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from clvframe.errors import DataValidationError
from clvframe.evaluation.compare import best_per_column
from clvframe.evaluation.compare import metric_direction
from clvframe.evaluation.metrics import gain_curve
from clvframe.evaluation.metrics import normalized_gini

logger = logging.getLogger(__name__)

ACTUAL_COLOR = "#1f4e79"
EXPECTED_COLOR = "#d9822b"
CUTOFF_COLOR = "#6b6b6b"
MAX_FREQUENCY_BUCKET = 7
_EXPECTED_CHUNK = 4_000_000
_DIRECTION_NOTE = {
    "lower": "lower is better",
    "higher": "higher is better",
    "zero": "closer to 0 is better",
    None: "direction unknown",
}


def repeat_transaction_curve(
    first_purchase: np.ndarray,
    repeat_times: np.ndarray,
    expected_new: Callable[[np.ndarray], np.ndarray],
    end: float,
    step: float = 1.0,
) -> pd.DataFrame:
    """Actual and expected repeat transactions per period, for tracking plots.

    Periods are the intervals ``(k * step, (k + 1) * step]`` from the start of
    the log up to ``end`` (the last one may be shorter); a time of exactly 0
    falls in the first period. Each customer contributes expected repeat
    transactions from its first purchase on, so the expected curve grows as
    customers are acquired, as the actual one does.

    Args:
        first_purchase: Time of each customer's first purchase, in model time
            units since the start of the log.
        repeat_times: Times of all repeat purchases of all customers, in the
            same units. Times after ``end`` are ignored.
        expected_new: Expected cumulative repeat transactions of one new
            customer ``t`` units after its first purchase; called with an array
            of ``t > 0`` and must return an array of the same shape.
        end: End of the last period (the end of the log).
        step: Period length in model time units (1.0 is a week when the unit
            is weeks).

    Returns:
        One row per period with ``period`` (end of the period), ``actual``
        (repeat transactions in it) and ``expected`` (their expected number).

    Raises:
        DataValidationError: When ``end`` or ``step`` is not positive, times
            are not finite, or ``expected_new`` returns the wrong shape.
    """
    firsts, repeats = _check_curve_inputs(first_purchase, repeat_times, end, step)

    n_periods = int(np.ceil(end / step - 1e-9))
    edges = np.minimum(np.arange(n_periods + 1) * step, end)
    actual = _count_per_period(repeats, edges)
    cumulative = _expected_cumulative(firsts, expected_new, edges)

    return pd.DataFrame(
        {"period": edges[1:], "actual": actual, "expected": np.diff(cumulative)}
    )


def plot_tracking(curve: pd.DataFrame, cutoff: float, unit: str) -> Figure:
    """Cumulative and per-period repeat transactions, actual against expected.

    Args:
        curve: Output of :func:`repeat_transaction_curve` (``period``,
            ``actual``, ``expected``).
        cutoff: End of the calibration period, in ``unit`` since the start.
        unit: Name of the time unit of ``period`` (for the axis labels).

    Returns:
        A figure with two panels: cumulative above, per period below.
    """
    _require(curve, ("period", "actual", "expected"), "tracking curve")
    period = curve["period"].to_numpy(dtype=float)

    figure = Figure(figsize=(9, 7), layout="constrained")
    cumulative_ax, period_ax = figure.subplots(2, 1, sharex=True)
    panels = (
        (
            cumulative_ax,
            curve["actual"].cumsum(),
            curve["expected"].cumsum(),
            "cumulative",
        ),
        (period_ax, curve["actual"], curve["expected"], f"per {unit.rstrip('s')}"),
    )
    for ax, actual, expected, label in panels:
        ax.plot(period, actual, color=ACTUAL_COLOR, label="actual")
        ax.plot(period, expected, color=EXPECTED_COLOR, linestyle="--", label="model")
        ax.axvline(cutoff, color=CUTOFF_COLOR, linestyle=":", label="calibration end")
        ax.set_ylabel(f"repeat transactions, {label} (count)")
        ax.grid(alpha=0.3)
    cumulative_ax.legend(loc="upper left")
    cumulative_ax.set_title("Cumulative repeat transactions")
    period_ax.set_title(f"Repeat transactions per {unit.rstrip('s')}")
    period_ax.set_xlabel(f"time since start of the log ({unit})")
    figure.suptitle("Tracking: actual vs model-expected repeat transactions")
    return figure


def plot_conditional_expectations(frame: pd.DataFrame) -> Figure:
    """Mean holdout purchases, actual against predicted, by calibration frequency.

    Args:
        frame: One row per customer with ``frequency`` (calibration repeat
            purchases), ``frequency_holdout`` and ``expected_purchases``.

    Returns:
        A figure with one point per frequency 0..6 and one for 7 or more; the
        tick labels give the number of customers in each.
    """
    _require(frame, ("frequency", "frequency_holdout", "expected_purchases"), "frame")
    bucket = frame["frequency"].clip(upper=MAX_FREQUENCY_BUCKET).astype(int)
    grouped = frame.groupby(bucket)
    table = pd.DataFrame(
        {
            "customers": grouped.size(),
            "actual": grouped["frequency_holdout"].mean(),
            "predicted": grouped["expected_purchases"].mean(),
        }
    )
    labels = [f"{b}+" if b == MAX_FREQUENCY_BUCKET else str(b) for b in table.index]

    figure = Figure(figsize=(8, 5), layout="constrained")
    ax = figure.subplots()
    positions = np.arange(len(table))
    ax.plot(positions, table["actual"], marker="o", color=ACTUAL_COLOR, label="actual")
    ax.plot(
        positions,
        table["predicted"],
        marker="s",
        linestyle="--",
        color=EXPECTED_COLOR,
        label="model",
    )
    ax.set_xticks(
        positions,
        [
            f"{label}\n(n={n:,})"
            for label, n in zip(labels, table["customers"], strict=True)
        ],
    )
    ax.set_xlabel("repeat purchases in the calibration period (count)")
    ax.set_ylabel("mean purchases in the holdout (count per customer)")
    ax.set_title("Conditional expectations: holdout purchases by calibration frequency")
    ax.legend()
    ax.grid(alpha=0.3)
    return figure


def plot_deciles(table: pd.DataFrame, currency: str = "currency units") -> Figure:
    """Mean predicted against mean actual holdout spend per decile.

    Args:
        table: Output of :func:`clvframe.evaluation.metrics.decile_table`.
        currency: Currency of the amounts, for the axis label.

    Returns:
        A grouped bar chart, decile 1 (highest predicted) on the left.
    """
    _require(table, ("mean_predicted_spend", "mean_actual_spend"), "decile table")
    positions = np.arange(len(table))
    width = 0.4

    figure = Figure(figsize=(8, 5), layout="constrained")
    ax = figure.subplots()
    ax.bar(
        positions - width / 2,
        table["mean_actual_spend"].fillna(0.0),
        width,
        color=ACTUAL_COLOR,
        label="actual",
    )
    ax.bar(
        positions + width / 2,
        table["mean_predicted_spend"].fillna(0.0),
        width,
        color=EXPECTED_COLOR,
        label="model",
    )
    ax.set_xticks(positions, [str(d) for d in table.index])
    ax.set_xlabel("decile of predicted spend (1 = highest)")
    ax.set_ylabel(f"mean holdout spend per customer ({currency})")
    ax.set_title("Holdout spend by decile of predicted spend")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return figure


def plot_gain_curve(
    predicted: np.ndarray | pd.Series, actual: np.ndarray | pd.Series
) -> Figure:
    """Cumulative gain of the model's ranking, with the perfect and random ones.

    Args:
        predicted: Predicted spend per customer.
        actual: Actual holdout spend per customer.

    Returns:
        A figure with the normalised Gini in its title.
    """
    x, y = gain_curve(predicted, actual)
    x_best, y_best = gain_curve(actual, actual)
    score = normalized_gini(predicted, actual)

    figure = Figure(figsize=(6, 6), layout="constrained")
    ax = figure.subplots()
    ax.plot(100 * x, 100 * y, color=EXPECTED_COLOR, label="model")
    ax.plot(100 * x_best, 100 * y_best, color=ACTUAL_COLOR, label="perfect ordering")
    ax.plot([0, 100], [0, 100], color=CUTOFF_COLOR, linestyle=":", label="random")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_xlabel("customers, by predicted spend, highest first (%)")
    ax.set_ylabel("actual holdout spend captured (%)")
    ax.set_title(f"Gain curve (normalised Gini = {score:.3f})")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return figure


def plot_clv_distribution(
    clv: pd.Series, cut_points: Mapping[str, float], currency: str = "currency units"
) -> Figure:
    """Histogram of CLV on a log scale, with value-tier cut points marked.

    Args:
        clv: CLV per customer.
        cut_points: Tier name to the CLV at which the tier starts, e.g.
            ``{"top 1%": 1520.0, "top 10%": 310.0}``.
        currency: Currency of the CLV, for the axis label.

    Returns:
        A histogram over logarithmic bins of the positive CLVs; the number of
        customers with a CLV of zero or less is given in the legend, since a
        log axis cannot show them. Cut points at or below zero are left out.

    Raises:
        DataValidationError: When ``clv`` is empty or holds non-finite values.
    """
    values = clv.to_numpy(dtype=float)
    if values.size == 0 or not np.isfinite(values).all():
        raise DataValidationError(
            "plot_clv_distribution: clv must be non-empty and finite."
        )
    positive = values[values > 0]
    n_nonpositive = int((values <= 0).sum())

    figure = Figure(figsize=(9, 5), layout="constrained")
    ax = figure.subplots()
    if positive.size:
        # A handful of near-zero forecasts would stretch a log axis over many
        # empty decades: the first bin starts at the 0.5th percentile and holds
        # everything below it.
        low, high = np.quantile(positive, 0.005), positive.max()
        bins = np.geomspace(low, high * 1.0001 if high > low else low * 2, 40)
        ax.hist(
            np.clip(positive, low, None),
            bins=bins,
            color=ACTUAL_COLOR,
            alpha=0.85,
            label="customers",
        )
    ax.set_xscale("log")
    if n_nonpositive:
        ax.plot(
            [], [], " ", label=f"{n_nonpositive:,} customers with CLV <= 0 not shown"
        )
    for name, cut in sorted(cut_points.items(), key=lambda item: item[1]):
        if cut <= 0:
            logger.debug("Cut point %s = %s is not shown on a log axis", name, cut)
            continue
        ax.axvline(cut, color=EXPECTED_COLOR, linestyle="--", linewidth=1.2)
        ax.annotate(
            f"{name} (≥ {cut:,.0f})",
            xy=(cut, 0.98),
            xycoords=("data", "axes fraction"),
            xytext=(-4, 0),
            textcoords="offset points",
            rotation=90,
            ha="right",
            va="top",
            fontsize=9,
            color="#8a4b0f",
            bbox={
                "boxstyle": "round,pad=0.2",
                "fc": "white",
                "ec": "none",
                "alpha": 0.8,
            },
        )
    ax.set_xlabel(f"customer lifetime value ({currency}, log scale)")
    ax.set_ylabel("customers (count)")
    ax.set_title(f"CLV distribution of {values.size:,} customers, with value tiers")
    ax.legend(loc="upper left")
    return figure


def plot_frequency_recency_heatmap(
    func: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    max_frequency: int,
    max_T: float,
    title: str,
    value_label: str = "expected purchases",
    unit: str = "weeks",
) -> Figure:
    """Heat map of a per-customer quantity over frequency and recency.

    Every cell is a customer observed for ``T = max_T``; cells with repeat
    purchases but recency 0, which no customer can have, are left blank.

    Args:
        func: ``func(frequency, recency, T)`` on equal-shaped arrays, returning
            the value per cell (e.g. expected purchases or P(alive)).
        max_frequency: Highest frequency (repeat purchases) shown.
        max_T: Customer age, and highest recency shown, in ``unit``.
        title: Figure title.
        value_label: Name and unit of the value, for the colour bar.
        unit: Model time unit, for the recency axis.

    Returns:
        A figure with frequency rising upwards and recency to the right.

    Raises:
        DataValidationError: When the ranges are not positive or ``func``
            returns the wrong shape.
    """
    if max_frequency < 1 or not max_T > 0:
        raise DataValidationError(
            "plot_frequency_recency_heatmap: max_frequency must be >= 1 and max_T "
            f"> 0; got {max_frequency!r} and {max_T!r}."
        )
    frequency = np.arange(max_frequency + 1, dtype=float)
    recency = np.linspace(0.0, max_T, min(int(np.ceil(max_T)) + 1, 101))
    freq_grid, rec_grid = np.meshgrid(frequency, recency, indexing="ij")
    values = np.asarray(func(freq_grid, rec_grid, np.full_like(freq_grid, max_T)))
    if values.shape != freq_grid.shape:
        raise DataValidationError(
            f"plot_frequency_recency_heatmap: func returned shape {values.shape}; "
            f"expected {freq_grid.shape}."
        )
    values = np.where((freq_grid > 0) & (rec_grid == 0), np.nan, values)

    figure = Figure(figsize=(8, 6), layout="constrained")
    ax = figure.subplots()
    mesh = ax.pcolormesh(
        _cell_edges(recency), _cell_edges(frequency), values, cmap="viridis"
    )
    figure.colorbar(mesh, ax=ax, label=value_label)
    ax.set_xlabel(f"recency: time of last purchase since the first ({unit})")
    ax.set_ylabel("frequency: repeat purchases (count)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{title} (customer age T = {max_T:g} {unit})")
    return figure


def plot_metrics_comparison(table: pd.DataFrame, metrics: list[str]) -> Figure:
    """Small multiples comparing runs: one bar chart per metric, a bar per run.

    Args:
        table: One row per run, as returned by
            :func:`clvframe.evaluation.compare.compare_runs`; bars are labelled
            by ``run_name`` when present, else by the index.
        metrics: Metric columns to draw, one panel each.

    Returns:
        A figure whose best bar per panel (by
        :data:`clvframe.evaluation.compare.METRIC_DIRECTION`) is highlighted.

    Raises:
        DataValidationError: When ``metrics`` is empty or names a column the
            table lacks.
    """
    if not metrics:
        raise DataValidationError("plot_metrics_comparison: no metrics to plot.")
    _require(table, tuple(metrics), "comparison table")
    labels = _run_labels(table)
    best = best_per_column(table[list(metrics)])
    n_cols = min(3, len(metrics))
    n_rows = int(np.ceil(len(metrics) / n_cols))

    figure = Figure(
        figsize=(4.2 * n_cols, 0.9 + 0.35 * len(table) * n_rows + 0.9 * n_rows),
        layout="constrained",
    )
    axes = np.atleast_1d(figure.subplots(n_rows, n_cols, squeeze=False)).ravel()
    positions = np.arange(len(table))
    for ax, metric in zip(axes, metrics, strict=False):
        colors = [
            EXPECTED_COLOR if metric in best and label == best[metric] else ACTUAL_COLOR
            for label in table.index
        ]
        ax.barh(positions, table[metric].astype(float), color=colors)
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()
        ax.set_title(
            f"{metric}\n({_DIRECTION_NOTE[metric_direction(metric)]})", fontsize=9
        )
        ax.set_xlabel(_metric_unit(metric), fontsize=8)
        ax.set_ylabel("run", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    figure.suptitle("Runs compared on holdout metrics (best run highlighted)")
    return figure


# --- helpers -------------------------------------------------------------------


def _check_curve_inputs(
    first_purchase: np.ndarray, repeat_times: np.ndarray, end: float, step: float
) -> tuple[np.ndarray, np.ndarray]:
    firsts = np.asarray(first_purchase, dtype=float).ravel()
    repeats = np.asarray(repeat_times, dtype=float).ravel()
    if not (end > 0 and step > 0):
        raise DataValidationError(
            "repeat_transaction_curve: end and step must be > 0; "
            f"got {end!r} and {step!r}."
        )
    if not (np.isfinite(firsts).all() and np.isfinite(repeats).all()):
        raise DataValidationError(
            "repeat_transaction_curve: first_purchase and repeat_times must be finite."
        )
    n_late = int((repeats > end).sum())
    if n_late:
        logger.debug("%d repeat purchases after end=%s are not counted", n_late, end)
    return firsts, repeats


def _count_per_period(times: np.ndarray, edges: np.ndarray) -> np.ndarray:
    inside = times[times <= edges[-1]]
    # right-closed periods (a, b]; a time of exactly edges[0] joins the first
    index = np.maximum(np.searchsorted(edges, inside, side="left") - 1, 0)
    return np.bincount(index, minlength=len(edges) - 1).astype(float)


def _expected_cumulative(
    first_purchase: np.ndarray,
    expected_new: Callable[[np.ndarray], np.ndarray],
    edges: np.ndarray,
) -> np.ndarray:
    starts, counts = np.unique(first_purchase, return_counts=True)
    cumulative = np.zeros(len(edges))
    rows_per_chunk = max(1, _EXPECTED_CHUNK // max(len(starts), 1))

    for begin in range(0, len(edges), rows_per_chunk):
        block = edges[begin : begin + rows_per_chunk]
        age = block[:, None] - starts[None, :]
        alive = age > 0
        per_cohort = np.zeros_like(age)
        values = np.asarray(expected_new(age[alive]), dtype=float)
        if values.shape != (int(alive.sum()),):
            raise DataValidationError(
                f"repeat_transaction_curve: expected_new returned shape {values.shape} "
                f"for {int(alive.sum())} ages; it must return one value per age."
            )
        per_cohort[alive] = values
        cumulative[begin : begin + len(block)] = per_cohort @ counts
    return cumulative


def _cell_edges(centres: np.ndarray) -> np.ndarray:
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    middle = (centres[1:] + centres[:-1]) / 2
    return np.concatenate(
        [
            [centres[0] - (middle[0] - centres[0])],
            middle,
            [centres[-1] + (centres[-1] - middle[-1])],
        ]
    )


def _run_labels(table: pd.DataFrame) -> list[str]:
    if "run_name" in table.columns:
        names = table["run_name"].fillna("").astype(str)
        return [
            f"{name} ({index})" if name else str(index)
            for name, index in zip(names, table.index, strict=True)
        ]
    return [str(index) for index in table.index]


def _metric_unit(metric: str) -> str:
    if metric.endswith(("_error", "_share", "_gini", "_spearman", "_auc", "_mape")):
        return "ratio"
    if metric.endswith("_lift"):
        return "lift (x random)"
    if "purchases" in metric:
        return "purchases per customer"
    if "spend" in metric:
        return "spend per customer (currency)"
    return "value"


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{what}: missing column(s) {missing}; got {list(map(str, frame.columns))}."
        )
