"""Side-by-side comparison of the runs of an MLflow experiment.

``mlflow`` is imported inside :func:`compare_runs` only, so the rest of the
evaluation package, and its tests, never pay for importing it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Literal

import pandas as pd

from clvframe.errors import ClvframeError
from clvframe.errors import ConfigError

if TYPE_CHECKING:
    from mlflow.entities import Run

logger = logging.getLogger(__name__)

Direction = Literal["lower", "higher", "zero"]

METRIC_DIRECTION: dict[str, Direction] = {
    "holdout_purchases_mae": "lower",
    "holdout_purchases_rmse": "lower",
    "holdout_purchases_bias": "zero",
    "holdout_spend_mae": "lower",
    "holdout_spend_rmse": "lower",
    "holdout_spend_bias": "zero",
    "holdout_purchases_error": "zero",
    "holdout_revenue_error": "zero",
    "holdout_spend_spearman": "higher",
    "holdout_gini": "higher",
    "holdout_top_decile_lift": "higher",
    "holdout_top10_revenue_share": "higher",
    "holdout_top1_revenue_share": "higher",
    "holdout_decile_mape": "lower",
    "holdout_churn_auc": "higher",
    "holdout_repurchase_auc": "higher",
    "fit_log_likelihood": "higher",
    "fit_aic": "lower",
    "fit_bic": "lower",
}
"""Which way each known metric is better.

``"lower"``: smaller is better (MAE, RMSE, MAPE, AIC, BIC). ``"higher"``:
larger is better (Gini, lift, Spearman, AUC, revenue shares, log-likelihood).
``"zero"``: closest to zero is better, judged on ``abs()`` (biases and the
aggregate ``*_error`` ratios, which are signed). Metrics not listed fall back on
their name's suffix, see :func:`metric_direction`.
"""

_SUFFIX_DIRECTION: tuple[tuple[str, Direction], ...] = (
    ("_bias", "zero"),
    ("_error", "zero"),
    ("_mae", "lower"),
    ("_rmse", "lower"),
    ("_mape", "lower"),
    ("_aic", "lower"),
    ("_bic", "lower"),
    ("_gini", "higher"),
    ("_lift", "higher"),
    ("_spearman", "higher"),
    ("_auc", "higher"),
    ("_share", "higher"),
    ("_log_likelihood", "higher"),
)

DEFAULT_METRICS = (
    "holdout_spend_mae",
    "holdout_spend_rmse",
    "holdout_revenue_error",
    "holdout_purchases_mae",
    "holdout_purchases_error",
    "holdout_gini",
    "holdout_top_decile_lift",
    "holdout_spend_spearman",
    "holdout_churn_auc",
    "holdout_repurchase_auc",
    "fit_bic",
)
"""Metrics shown by :func:`compare_runs` when none are asked for (if logged)."""

SETTING_PARAMS = ("forecast.horizon",)
SETTING_PREFIX = "estimator.params."
KEY_SETTINGS = (
    "spend_model",
    "penalizer",
    "objective",
    "label_window",
    "opportunity",
    "period",
)
"""Estimator params shown as settings, when logged; the rest stay in MLflow.

A model such as LightGBM logs dozens of params; the comparison shows the ones
that say which model a row is, and any other that differs between the runs
that set it.
"""
SHORT_ID_LENGTH = 8


def metric_direction(metric: str) -> Direction | None:
    """Which way ``metric`` is better, or ``None`` when that is unknown.

    Looks ``metric`` up in :data:`METRIC_DIRECTION`, then falls back on its
    suffix (``_mae``, ``_gini``, ...), so that new metrics following the naming
    scheme are ranked without being listed.
    """
    if metric in METRIC_DIRECTION:
        return METRIC_DIRECTION[metric]
    for suffix, direction in _SUFFIX_DIRECTION:
        if metric.endswith(suffix):
            return direction
    return None


def compare_runs(
    experiment: str = "clvframe",
    tracking_uri: str | None = None,
    sort_by: str = "holdout_spend_mae",
    ascending: bool | None = None,
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per run of an MLflow experiment, best run first.

    Args:
        experiment: Name of the MLflow experiment.
        tracking_uri: Tracking store to read; ``None`` uses MLflow's current
            one. The global tracking URI is never changed.
        sort_by: Metric to sort on.
        ascending: Sort direction; ``None`` puts the best run first following
            :func:`metric_direction` (for ``"zero"`` metrics, the smallest
            ``abs()`` first). An explicit direction sorts the raw values.
        metrics: Metric columns to show; ``None`` shows those of
            ``DEFAULT_METRICS`` that were logged. ``sort_by`` is always shown.

    Returns:
        A frame indexed by ``run_id`` (its first 8 characters, unless two runs
        share them) with ``run_name``, ``status``, ``estimator`` (param
        ``estimator.name``), the settings (params ``estimator.params.*`` and
        ``forecast.horizon``, as logged strings), then the metrics. Runs that
        lack the ``sort_by`` metric come last.

    Raises:
        ClvframeError: When the experiment does not exist or has no runs.
        ConfigError: When ``sort_by`` or one of ``metrics`` was never logged
            (the message lists those that were), or ``sort_by`` has no known
            direction and ``ascending`` is ``None``.
    """
    runs = _search_runs(experiment, tracking_uri)
    available = sorted({key for run in runs for key in run.data.metrics})

    columns = _choose_metrics(available, metrics, sort_by)
    table = _runs_table(runs, columns)
    table = _sort(table, sort_by, ascending)

    logger.info("Compared %d runs of experiment %r", len(table), experiment)
    return table


def best_per_column(table: pd.DataFrame) -> dict[str, Hashable]:
    """Index label of the best row of every metric column with a known direction.

    Columns whose direction :func:`metric_direction` does not know, non-numeric
    columns and columns with no values are skipped. On a tie the first row in
    table order wins.
    """
    best: dict[str, Hashable] = {}
    for column in table.columns:
        direction = metric_direction(str(column))
        values = table[column]
        if (
            direction is None
            or not pd.api.types.is_numeric_dtype(values)
            or values.isna().all()
        ):
            continue
        if direction == "higher":
            best[str(column)] = values.idxmax()
        elif direction == "lower":
            best[str(column)] = values.idxmin()
        else:
            best[str(column)] = values.abs().idxmin()
    return best


def format_table(
    table: pd.DataFrame, fmt: Literal["markdown", "csv"] = "markdown"
) -> str:
    """Render a comparison table as text.

    Args:
        table: Output of :func:`compare_runs`.
        fmt: ``"markdown"`` (numbers to 4 significant digits, the best value of
            each metric column in bold, as :func:`best_per_column` picks it) or
            ``"csv"`` (full precision, no marking, index included).

    Returns:
        The table as a string.

    Raises:
        ConfigError: When ``fmt`` is neither format.
    """
    if fmt == "csv":
        return table.to_csv()
    if fmt != "markdown":
        raise ConfigError(
            f"format_table: fmt must be 'markdown' or 'csv'; got {fmt!r}."
        )

    best = best_per_column(table)
    index_name = str(table.index.name or "")
    header = [index_name, *map(str, table.columns)]
    numeric = [pd.api.types.is_numeric_dtype(table[c]) for c in table.columns]
    lines = [
        _markdown_row(header),
        _markdown_row(["---", *("---:" if n else "---" for n in numeric)]),
    ]
    for label, row in table.iterrows():
        cells = [_cell(label)]
        for column, value in row.items():
            text = _cell(value)
            if text and best.get(str(column)) == label:
                text = f"**{text}**"
            cells.append(text)
        lines.append(_markdown_row(cells))
    return "\n".join(lines) + "\n"


# --- helpers -------------------------------------------------------------------


def _search_runs(experiment: str, tracking_uri: str | None) -> list[Run]:
    # NB: MlflowClient rather than mlflow.search_runs, which only reads the
    # global tracking URI: setting it here would redirect a caller's active run.
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = sorted(e.name for e in client.search_experiments())
        raise ClvframeError(
            f"compare_runs: no experiment named {experiment!r} in tracking store "
            f"{client.tracking_uri!r}; experiments there: {names}."
        )

    runs: list[Run] = []
    page_token = None
    while True:
        page = client.search_runs(
            [found.experiment_id], max_results=1000, page_token=page_token
        )
        runs.extend(page)
        page_token = page.token
        if not page_token:
            break
    if not runs:
        raise ClvframeError(
            f"compare_runs: experiment {experiment!r} has no runs yet; "
            "run an experiment first."
        )
    return runs


def _choose_metrics(
    available: list[str], metrics: Sequence[str] | None, sort_by: str
) -> list[str]:
    if sort_by not in available:
        raise ConfigError(
            f"compare_runs: sort_by={sort_by!r} was not logged in this experiment; "
            f"choose one of {available}."
        )
    if metrics is None:
        chosen = [name for name in DEFAULT_METRICS if name in available]
    else:
        unknown = [name for name in metrics if name not in available]
        if unknown:
            raise ConfigError(
                f"compare_runs: metrics {unknown} were not logged in this experiment; "
                f"choose from {available}."
            )
        chosen = list(dict.fromkeys(metrics))
    if sort_by not in chosen:
        chosen.insert(0, sort_by)
    return chosen


def _is_key_setting(key: str, runs: list[Run]) -> bool:
    if key in SETTING_PARAMS:
        return True
    if not key.startswith(SETTING_PREFIX):
        return False
    if key.removeprefix(SETTING_PREFIX) in KEY_SETTINGS:
        return True
    values = {run.data.params[key] for run in runs if key in run.data.params}
    return len(values) > 1


def _runs_table(runs: list[Run], metrics: list[str]) -> pd.DataFrame:
    settings = sorted(
        {key for run in runs for key in run.data.params if _is_key_setting(key, runs)}
    )
    rows = []
    for run in runs:
        params = run.data.params
        row = {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "status": run.info.status,
            "estimator": params.get("estimator.name"),
            **{key: params.get(key) for key in settings},
            **{key: run.data.metrics.get(key, math.nan) for key in metrics},
        }
        rows.append(row)

    table = pd.DataFrame(rows)
    short = table["run_id"].str[:SHORT_ID_LENGTH]
    if short.is_unique:
        table["run_id"] = short
    table = table.set_index("run_id")
    table[metrics] = table[metrics].astype(float)
    return table


def _sort(table: pd.DataFrame, sort_by: str, ascending: bool | None) -> pd.DataFrame:
    if ascending is not None:
        return table.sort_values(
            sort_by, ascending=ascending, na_position="last", kind="stable"
        )

    direction = metric_direction(sort_by)
    if direction is None:
        raise ConfigError(
            f"compare_runs: cannot tell whether a higher {sort_by!r} is better; "
            "pass ascending=True or ascending=False."
        )
    return table.sort_values(
        sort_by,
        ascending=direction != "higher",
        key=(lambda values: values.abs()) if direction == "zero" else None,
        na_position="last",
        kind="stable",
    )


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def _markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"
