"""Holdout metrics: how well predicted purchases and spend match what happened.

Every metric here compares one row per customer: what the model expected over
the holdout against what the customer actually did. The key names returned by
:func:`holdout_metrics` are stable, because they are logged to MLflow and
compared across runs.

Ties in the prediction are common (every one-time buyer of a probabilistic
model with the same ``T`` gets the same forecast), so no result here depends on
the order of the rows. The rule:

* Customers are ranked by predicted spend, highest first. Customers with equal
  predictions form a *tied block* and share the block's average rank.
* The gain curve is drawn through the block boundaries and is straight inside a
  block: taking a fraction of a block takes that fraction of its actual spend.
  A top-k share whose cut falls inside a block (or inside one customer, when
  ``k`` is not a whole number of customers) counts that block pro rata, i.e.
  the block's mean actual spend times the number of customers taken.
* Deciles are assigned from average ranks, so a tied block never straddles two
  deciles; Spearman's correlation and the churn AUC use average ranks too.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from scipy import stats

from clvframe.errors import DataValidationError

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = (
    "frequency_holdout",
    "spend_holdout",
    "expected_purchases",
    "expected_spend",
)
"""Columns that :func:`holdout_metrics` needs, one row per customer."""

ALIVE_COLUMNS = ("p_alive", "p_repurchase")
"""Probability columns scored by the churn AUC, in order of preference."""

N_DECILES = 10

HOLDOUT_METRIC_KEYS = (
    "holdout_purchases_mae",
    "holdout_purchases_rmse",
    "holdout_purchases_bias",
    "holdout_spend_mae",
    "holdout_spend_rmse",
    "holdout_spend_bias",
    "holdout_purchases_error",
    "holdout_revenue_error",
    "holdout_spend_spearman",
    "holdout_gini",
    "holdout_top_decile_lift",
    "holdout_top10_revenue_share",
    "holdout_top1_revenue_share",
    "holdout_decile_mape",
    "holdout_churn_auc",
    "holdout_repurchase_auc",
)
"""Every key :func:`holdout_metrics` can return, in the order it returns them."""


def holdout_metrics(frame: pd.DataFrame) -> dict[str, float]:
    """Score predictions against the holdout, one row per customer.

    Keys (all floats, never NaN):

    * ``holdout_purchases_mae`` / ``_rmse`` / ``_bias``: error of
      ``expected_purchases`` against ``frequency_holdout``; bias is the mean of
      predicted minus actual, so a positive bias means over-prediction.
    * ``holdout_spend_mae`` / ``_rmse`` / ``_bias``: the same for
      ``expected_spend`` against ``spend_holdout``.
    * ``holdout_purchases_error`` / ``holdout_revenue_error``: total predicted
      over total actual, minus one (0.1 means 10% too high in aggregate).
    * ``holdout_spend_spearman``: rank correlation of predicted and actual
      spend (average ranks); 0.0 when either side is constant.
    * ``holdout_gini``: normalised Gini of the gain curve, the model's Gini
      over that of the perfect ordering; 1.0 for a perfect ranking, 0.0 for a
      constant prediction, and 0.0 when all actual spends are equal (no
      ordering can beat random).
    * ``holdout_top_decile_lift``: share of actual spend held by the top 10%
      of customers by predicted spend, divided by 0.10.
    * ``holdout_top10_revenue_share`` / ``holdout_top1_revenue_share``: share
      of actual holdout spend held by the top 10% / 1% of customers by
      predicted spend (ties pro rata, see the module docstring).
    * ``holdout_decile_mape``: mean over the deciles of :func:`decile_table`
      of ``|mean predicted - mean actual| / mean actual``, skipping deciles
      with no customers or zero mean actual spend.
    * ``holdout_churn_auc`` / ``holdout_repurchase_auc``: ROC AUC of
      ``p_alive`` / ``p_repurchase`` (the probability of buying again in the
      holdout) for telling apart customers who bought in the holdout
      (``frequency_holdout > 0``) from those who did not. A column the model
      leaves empty (all NaN: it has no notion of it) counts as absent. A key is omitted
      when neither column exists, or when every customer (or none) bought, as
      the AUC is then undefined; the latter is logged as a warning.

    Args:
        frame: One row per customer with the columns in ``REQUIRED_COLUMNS``
            and optionally ``p_alive`` or ``p_repurchase``.

    Returns:
        The metrics, keyed as listed above, in the order of
        ``HOLDOUT_METRIC_KEYS``.

    Raises:
        DataValidationError: When a required column is missing or holds
            non-finite values, the frame is empty, or the holdout holds no
            purchases or no spend at all (the aggregate errors and the gain
            curve are undefined; move the cutoff or check the amounts).
    """
    _check_frame(frame)
    frame = _canonical_order(frame)

    purchases_true = frame["frequency_holdout"].to_numpy(dtype=float)
    purchases_pred = frame["expected_purchases"].to_numpy(dtype=float)
    spend_true = frame["spend_holdout"].to_numpy(dtype=float)
    spend_pred = frame["expected_spend"].to_numpy(dtype=float)

    metrics = {
        **_error_metrics("holdout_purchases", purchases_pred, purchases_true),
        **_error_metrics("holdout_spend", spend_pred, spend_true),
        "holdout_purchases_error": purchases_pred.sum() / purchases_true.sum() - 1.0,
        "holdout_revenue_error": spend_pred.sum() / spend_true.sum() - 1.0,
        "holdout_spend_spearman": spearman(spend_pred, spend_true),
        "holdout_gini": normalized_gini(spend_pred, spend_true),
        "holdout_top_decile_lift": top_share(spend_pred, spend_true, 0.10) / 0.10,
        "holdout_top10_revenue_share": top_share(spend_pred, spend_true, 0.10),
        "holdout_top1_revenue_share": top_share(spend_pred, spend_true, 0.01),
        "holdout_decile_mape": decile_mape(decile_table(frame)),
    }
    for column, key in (
        ("p_alive", "holdout_churn_auc"),
        ("p_repurchase", "holdout_repurchase_auc"),
    ):
        auc = _probability_auc(frame, column, key)
        if auc is not None:
            metrics[key] = auc

    logger.info("Scored %d customers on the holdout", len(frame))
    return {key: float(value) for key, value in metrics.items()}


def fit_metrics(log_likelihood: float, n_params: int, n_obs: int) -> dict[str, float]:
    """Information criteria of a fitted model.

    Args:
        log_likelihood: Maximised log-likelihood of the model on its data.
        n_params: Number of free parameters.
        n_obs: Number of observations (customers) the model was fitted on.

    Returns:
        ``fit_log_likelihood``, ``fit_aic`` (``2k - 2 LL``) and ``fit_bic``
        (``k ln n - 2 LL``).

    Raises:
        DataValidationError: When the log-likelihood is not finite, ``n_params``
            is negative or ``n_obs`` is below one.
    """
    if not math.isfinite(log_likelihood):
        raise DataValidationError(
            f"fit_metrics: log_likelihood must be finite; got {log_likelihood!r}."
        )
    if n_params < 0:
        raise DataValidationError(
            f"fit_metrics: n_params must be >= 0; got {n_params!r}."
        )
    if n_obs < 1:
        raise DataValidationError(f"fit_metrics: n_obs must be >= 1; got {n_obs!r}.")

    return {
        "fit_log_likelihood": float(log_likelihood),
        "fit_aic": 2.0 * n_params - 2.0 * log_likelihood,
        "fit_bic": n_params * math.log(n_obs) - 2.0 * log_likelihood,
    }


def gain_curve(
    predicted: np.ndarray | pd.Series, actual: np.ndarray | pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative share of actual spend against share of customers, best first.

    Customers are taken in decreasing order of ``predicted``. The points sit at
    the boundaries of tied blocks, so drawing straight lines between them
    spreads each tied block's spend evenly over its customers.

    Args:
        predicted: Predicted value per customer; the ranking score.
        actual: Actual value per customer, aligned with ``predicted``.

    Returns:
        ``(x, y)``, both starting at 0.0 and ending at 1.0: the fraction of
        customers taken and the fraction of total actual spend they hold. When
        the total actual spend is zero, ``y`` equals ``x`` (no ordering tells
        customers apart).

    Raises:
        DataValidationError: When the inputs differ in length, are empty or
            hold non-finite values.
    """
    pred, act = _check_pair(predicted, actual)

    # NB: sorting on actual inside a tied block fixes the summation order, so
    # the curve is bit-for-bit the same however the rows are ordered; only
    # block boundaries are kept, so that inner order never shows otherwise.
    order = np.lexsort((act, -pred))
    pred_sorted = pred[order]
    act_sorted = act[order]
    is_last_of_block = np.append(pred_sorted[1:] != pred_sorted[:-1], True)
    ends = np.flatnonzero(is_last_of_block) + 1
    cumulative = np.cumsum(act_sorted)[ends - 1]

    x = np.concatenate([[0.0], ends / len(pred)])
    total = cumulative[-1]
    if total == 0:
        return x, x.copy()
    y = np.concatenate([[0.0], cumulative / total])
    return x, y


def gini(predicted: np.ndarray | pd.Series, actual: np.ndarray | pd.Series) -> float:
    """Gini coefficient of the gain curve: twice the area above the diagonal.

    Args:
        predicted: Ranking score per customer.
        actual: Actual value per customer.

    Returns:
        ``2 * area_under_gain_curve - 1``; 0.0 for a constant prediction.
    """
    x, y = gain_curve(predicted, actual)
    area = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))
    return 2.0 * area - 1.0


def normalized_gini(
    predicted: np.ndarray | pd.Series, actual: np.ndarray | pd.Series
) -> float:
    """Gini of the model's ordering over the Gini of the perfect ordering.

    Args:
        predicted: Ranking score per customer.
        actual: Actual value per customer.

    Returns:
        1.0 for an ordering as good as sorting by ``actual``, 0.0 for a
        constant prediction; 0.0 as well when every actual value is the same,
        since then no ordering is better than another.
    """
    best = gini(actual, actual)
    if best == 0:
        return 0.0
    return gini(predicted, actual) / best


def top_share(
    predicted: np.ndarray | pd.Series,
    actual: np.ndarray | pd.Series,
    fraction: float,
) -> float:
    """Share of total actual spend held by the top ``fraction`` by prediction.

    Args:
        predicted: Ranking score per customer.
        actual: Actual value per customer.
        fraction: Fraction of customers taken, in ``(0, 1]``.

    Returns:
        A share in ``[0, 1]`` for non-negative spend. A tied block (or a single
        customer) cut by the boundary counts pro rata; with zero total spend
        the share equals ``fraction``.

    Raises:
        DataValidationError: When ``fraction`` is outside ``(0, 1]``.
    """
    if not 0 < fraction <= 1:
        raise DataValidationError(
            f"top_share: fraction must be in (0, 1]; got {fraction!r}."
        )
    x, y = gain_curve(predicted, actual)
    return float(np.interp(fraction, x, y))


def spearman(
    predicted: np.ndarray | pd.Series, actual: np.ndarray | pd.Series
) -> float:
    """Spearman rank correlation with average ranks for ties.

    Returns:
        The correlation, or 0.0 when either input is constant (no rank
        association can be measured).
    """
    pred, act = _check_pair(predicted, actual)
    if np.ptp(pred) == 0 or np.ptp(act) == 0:
        return 0.0
    return float(stats.spearmanr(pred, act).statistic)


def roc_auc(score: np.ndarray | pd.Series, positive: np.ndarray | pd.Series) -> float:
    """ROC AUC by the Mann-Whitney statistic, ties counted as one half.

    Args:
        score: Score per customer; higher should mean positive.
        positive: Boolean label per customer.

    Returns:
        The probability that a random positive outscores a random negative.

    Raises:
        DataValidationError: When all labels are equal (AUC undefined).
    """
    scores, labels = _check_pair(score, np.asarray(positive, dtype=float))
    is_positive = labels > 0
    n_pos = int(is_positive.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise DataValidationError(
            f"roc_auc: needs both classes; got {n_pos} positive and {n_neg} negative."
        )

    ranks = stats.rankdata(scores, method="average")
    u_statistic = ranks[is_positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u_statistic / (n_pos * n_neg))


def decile_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Customers grouped into ten deciles of predicted spend.

    Decile 1 holds the highest predictions. A customer's decile comes from the
    midpoint of its average rank, ``floor(10 * (rank - 0.5) / n) + 1``, so
    identical predictions always share a decile and the result does not depend
    on row order. With ties (or fewer than ten customers) deciles may be
    uneven or empty.

    Args:
        frame: One row per customer with ``expected_spend`` and
            ``spend_holdout``.

    Returns:
        Ten rows indexed by ``decile`` (1..10) with ``customers``,
        ``mean_predicted_spend``, ``mean_actual_spend`` (NaN for an empty
        decile) and ``actual_spend_share`` (share of total actual spend; 0.0
        for an empty decile or when the total is zero).

    Raises:
        DataValidationError: When a column is missing or the frame is empty.
    """
    _check_columns(frame, ("expected_spend", "spend_holdout"))
    pred, act = _check_pair(frame["expected_spend"], frame["spend_holdout"])

    ranks = stats.rankdata(-pred, method="average")
    deciles = np.minimum(
        np.floor(N_DECILES * (ranks - 0.5) / len(pred)).astype(int) + 1, N_DECILES
    )
    grouped = pd.DataFrame({"decile": deciles, "pred": pred, "act": act}).groupby(
        "decile"
    )
    index = pd.RangeIndex(1, N_DECILES + 1, name="decile")
    total = act.sum()

    table = pd.DataFrame(
        {
            "customers": grouped.size().reindex(index, fill_value=0),
            "mean_predicted_spend": grouped["pred"].mean().reindex(index),
            "mean_actual_spend": grouped["act"].mean().reindex(index),
            "actual_spend_share": (
                grouped["act"].sum().reindex(index, fill_value=0.0)
                / (total if total != 0 else 1.0)
            ),
        },
        index=index,
    )
    return table


def decile_mape(table: pd.DataFrame) -> float:
    """Mean absolute percentage error of the decile means.

    Args:
        table: The output of :func:`decile_table`.

    Returns:
        Mean over deciles with customers and a non-zero mean actual spend of
        ``|mean predicted - mean actual| / |mean actual|``; 0.0 when no decile
        qualifies (the error cannot be measured, and there is nothing to
        report against).
    """
    usable = table[(table["customers"] > 0) & (table["mean_actual_spend"] != 0)]
    if usable.empty:
        return 0.0
    errors = (usable["mean_predicted_spend"] - usable["mean_actual_spend"]).abs()
    return float((errors / usable["mean_actual_spend"].abs()).mean())


# --- helpers -------------------------------------------------------------------


def _error_metrics(prefix: str, predicted: np.ndarray, actual: np.ndarray) -> dict:
    residual = predicted - actual
    return {
        f"{prefix}_mae": np.abs(residual).mean(),
        f"{prefix}_rmse": np.sqrt(np.mean(residual**2)),
        f"{prefix}_bias": residual.mean(),
    }


def _present(frame: pd.DataFrame, column: str) -> bool:
    return column in frame.columns and bool(frame[column].notna().any())


def _probability_auc(frame: pd.DataFrame, column: str, key: str) -> float | None:
    if not _present(frame, column):
        return None
    _check_finite(frame, column)

    bought = frame["frequency_holdout"].to_numpy(dtype=float) > 0
    if bought.all() or not bought.any():
        logger.warning(
            "%s left out: %d of %d customers bought in the holdout, "
            "so the AUC is undefined",
            key,
            int(bought.sum()),
            len(bought),
        )
        return None
    return roc_auc(frame[column], bought)


def _canonical_order(frame: pd.DataFrame) -> pd.DataFrame:
    # Sums in floating point depend on their order; sorting on every scored
    # column makes shuffled copies of a frame give bit-identical metrics.
    columns = [*REQUIRED_COLUMNS, *(c for c in ALIVE_COLUMNS if _present(frame, c))]
    return frame.sort_values(columns, kind="stable")


def _check_frame(frame: pd.DataFrame) -> None:
    _check_columns(frame, REQUIRED_COLUMNS)
    if frame.empty:
        raise DataValidationError("holdout frame: no customers to evaluate.")
    for column in REQUIRED_COLUMNS:
        _check_finite(frame, column)

    if frame["frequency_holdout"].sum() == 0:
        raise DataValidationError(
            "holdout frame: frequency_holdout is 0 for every customer, so no error "
            "relative to the actual total can be computed; move the cutoff earlier "
            "so the holdout holds purchases."
        )
    if frame["spend_holdout"].sum() == 0:
        raise DataValidationError(
            "holdout frame: spend_holdout sums to 0, so the revenue error and the "
            "gain curve are undefined; check the amount column of the log."
        )


def _check_columns(frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataValidationError(
            f"holdout frame: missing column(s) {missing}; "
            f"got {list(map(str, frame.columns))}."
        )


def _check_finite(frame: pd.DataFrame, column: str) -> None:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        first = list(frame.index[bad][:3])
        raise DataValidationError(
            f"holdout frame: column {column!r} has {int(bad.sum())} missing or "
            f"non-numeric value(s) (first customers: {first})."
        )


def _check_pair(
    first: np.ndarray | pd.Series, second: np.ndarray | pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(first, dtype=float).ravel()
    b = np.asarray(second, dtype=float).ravel()
    if len(a) != len(b):
        raise DataValidationError(
            f"inputs differ in length: {len(a)} predicted vs {len(b)} actual values."
        )
    if len(a) == 0:
        raise DataValidationError("inputs are empty: nothing to evaluate.")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise DataValidationError("inputs hold NaN or infinite values.")
    return a, b
