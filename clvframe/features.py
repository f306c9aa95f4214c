"""Per-customer features built from a transaction log as of a cutoff.

Everything here reads only the rows on or before the cutoff day (a whole day,
inclusive, as the engine's observation end): a feature built at a cutoff does
not change when later rows are appended to the log. Labels, built by
:func:`build_labels`, read only the rows after the cutoff. Both are vectorised
over customers (NumPy reductions over sorted purchase periods, no Python loop
per customer).

Durations (recency, T, inter-purchase times, windows) are in ``time_unit``;
amounts in the currency of the log. Purchase periods follow the engine's
definition (:func:`clvframe.data.transactions.purchase_periods`), so the RFM
columns equal those of :func:`clvframe.data.summary.summarise`.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np
import pandas as pd

from clvframe.data.transactions import CANONICAL_COLUMNS
from clvframe.data.transactions import PurchasePeriods
from clvframe.data.transactions import check_transactions
from clvframe.data.transactions import purchase_periods
from clvframe.data.units import DAYS_PER_YEAR
from clvframe.data.units import DEFAULT_MONTH_DAYS
from clvframe.data.units import unit_days
from clvframe.errors import ConfigError
from clvframe.errors import DataValidationError
from clvframe.errors import DataWarning

DEFAULT_WINDOWS = (1.0, 4.0, 13.0, 26.0, 52.0)
NUMERIC_AGGREGATIONS = ("sum", "mean", "min", "max")
CATEGORICAL_AGGREGATIONS = ("shares", "counts", "spend_shares")
DEFAULT_NUMERIC = ("sum", "mean")
DEFAULT_CATEGORICAL = ("shares",)
RFM_FEATURES = ("frequency", "recency", "T", "monetary_value")
_DAY = pd.Timedelta(days=1)
_UNSAFE = re.compile(r"[^0-9A-Za-z_]+")

logger = logging.getLogger(__name__)


# --- which extra columns, and how -------------------------------------------


def resolve_extra_columns(
    transactions: pd.DataFrame,
    extra_columns: str | Mapping[str, Sequence[str] | str] | None,
) -> dict[str, tuple[str, ...]]:
    """Decide which extra columns become features, and with which aggregations.

    Args:
        transactions: A canonical log.
        extra_columns: ``"auto"`` for every extra column (numeric: sum and
            mean; text, categorical: shares of the most frequent levels;
            datetime columns are left out with a warning that counts them);
            ``None`` or ``"none"`` for none; or a map from column to
            aggregations, e.g. ``{"channel": ["shares"], "discount": ["sum"]}``.
            Numeric aggregations: sum, mean, min, max (over rows). Categorical:
            shares (share of rows per level), counts (rows per level),
            spend_shares (share of the customer's amount per level).

    Returns:
        Column name to aggregations, in the log's column order for ``"auto"``.

    Raises:
        ConfigError: An unknown column or aggregation, or an aggregation that
            does not fit the column's type; every problem at once.
    """
    extras = [c for c in transactions.columns if c not in CANONICAL_COLUMNS]
    if extra_columns is None or extra_columns == "none":
        return {}
    if extra_columns == "auto":
        chosen: dict[str, tuple[str, ...]] = {}
        skipped = []
        for column in extras:
            kind = _column_kind(transactions[column])
            if kind is None:
                skipped.append(column)
            else:
                chosen[column] = (
                    DEFAULT_NUMERIC if kind == "numeric" else DEFAULT_CATEGORICAL
                )
        if skipped:
            warnings.warn(
                f"features: {len(skipped)} extra column(s) {skipped} are dates or "
                "other types that cannot be aggregated and were left out; turn "
                "them into numbers or text upstream to use them.",
                DataWarning,
                stacklevel=2,
            )
        return chosen
    if isinstance(extra_columns, str) or not isinstance(extra_columns, Mapping):
        raise ConfigError(
            "estimator.params.extra_columns: must be 'auto', 'none' or a map from "
            f"column to aggregations; got {extra_columns!r}."
        )
    return _check_explicit(transactions, extra_columns, extras)


def _check_explicit(
    transactions: pd.DataFrame,
    extra_columns: Mapping[str, Sequence[str] | str],
    extras: list[str],
) -> dict[str, tuple[str, ...]]:
    chosen: dict[str, tuple[str, ...]] = {}
    problems = []
    for column, aggregations in extra_columns.items():
        aggs = (aggregations,) if isinstance(aggregations, str) else tuple(aggregations)
        if column not in extras:
            problems.append(f"{column!r} is not an extra column of the log ({extras})")
            continue
        kind = _column_kind(transactions[column])
        allowed = (
            NUMERIC_AGGREGATIONS if kind == "numeric" else CATEGORICAL_AGGREGATIONS
        )
        if kind is None:
            problems.append(
                f"{column!r} has type {transactions[column].dtype}, which cannot "
                "be aggregated"
            )
            continue
        bad = [a for a in aggs if a not in allowed]
        if bad or not aggs:
            problems.append(
                f"{column!r} is {kind}; its aggregations must be some of "
                f"{list(allowed)}; got {list(aggs)}"
            )
            continue
        chosen[str(column)] = aggs
    if problems:
        raise ConfigError(
            "estimator.params.extra_columns: " + "; ".join(problems) + "."
        )
    return chosen


def _column_kind(values: pd.Series) -> str | None:
    """``"numeric"``, ``"categorical"`` or ``None`` (cannot be aggregated).

    Text that reads entirely as numbers (a CSV read as text) is numeric.
    """
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_complex_dtype(dtype)
    ):
        return "numeric"
    if not (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
    ):
        return None
    present = values.dropna()
    if isinstance(dtype, pd.CategoricalDtype) or present.empty:
        return "categorical"
    # A sample first: text columns are rejected without parsing all of them.
    for part in (present.iloc[:1000], present):
        parsed = pd.to_numeric(part.astype(str).str.strip(), errors="coerce")
        if not parsed.notna().all():
            return "categorical"
    return "numeric"


def choose_levels(
    transactions: pd.DataFrame,
    extra_columns: Mapping[str, Sequence[str]],
    *,
    top_levels: int = 5,
) -> dict[str, list[str]]:
    """The most frequent levels of each categorical extra column.

    Levels are ranked by their number of rows, ties broken by the level's
    text, so the choice does not depend on the order of the log. Rows whose
    level is not among them count as ``other``.
    """
    levels: dict[str, list[str]] = {}
    for column, aggregations in extra_columns.items():
        if not set(aggregations) & set(CATEGORICAL_AGGREGATIONS):
            continue
        counts = transactions[column].dropna().astype(str).value_counts()
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        levels[column] = [level for level, _ in ranked[: max(int(top_levels), 0)]]
    return levels


def _safe(text: object) -> str:
    return _UNSAFE.sub("_", str(text)).strip("_") or "blank"


def level_feature_names(column: str, levels: Sequence[str], prefix: str) -> list[str]:
    """Feature names of a column's levels, made safe and unique for LightGBM."""
    names: list[str] = []
    for level in [*levels, "other"]:
        base = f"x_{_safe(column)}_{prefix}_{_safe(level)}"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names


# --- features ----------------------------------------------------------------


def rows_up_to(
    transactions: pd.DataFrame, cutoff: object
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The rows on or before the cutoff day, and the cutoff as a midnight."""
    end = pd.Timestamp(cutoff).normalize()
    if end.tzinfo is not None:
        end = end.tz_localize(None)
    kept = transactions[(transactions["timestamp"] < end + _DAY).to_numpy()]
    return kept, end


def build_features(
    transactions: pd.DataFrame,
    cutoff: object,
    *,
    windows: Sequence[float] = DEFAULT_WINDOWS,
    time_unit: str = "week",
    extra_columns: str | Mapping[str, Sequence[str] | str] | None = "auto",
    levels: Mapping[str, Sequence[str]] | None = None,
    top_levels: int = 5,
    grain: str = "day",
    returns: str = "net",
    month_days: float = DEFAULT_MONTH_DAYS,
    season_days: float | None = None,
) -> pd.DataFrame:
    """One row of features per customer, from the log as of ``cutoff``.

    Only rows on or before the cutoff day are read. Customers with at least
    one purchase period by then get a row; the rows are sorted by customer id.

    Columns (durations in ``time_unit``):

    * ``frequency``, ``recency``, ``T``, ``monetary_value``: the RFM summary,
      as :func:`clvframe.data.summary.summarise` defines it;
    * ``recency_gap``: time since the last purchase (``T - recency``);
    * ``total_spend`` (all rows, returns included), ``n_rows``, ``n_returns``
      (rows with a negative amount), ``mean_amount`` (mean purchase-period
      amount, first purchase included), ``first_amount``, ``last_amount``,
      ``max_amount``;
    * ``ipt_mean``, ``ipt_std``, ``ipt_min``, ``ipt_max``: statistics of the
      times between consecutive purchase periods (NaN with too few), and
      ``overdue``: ``recency_gap / ipt_mean``;
    * ``purchases_last_W`` and ``spend_last_W`` for each window W: purchase
      periods and their amount in the last W time units up to the cutoff;
    * ``trend_purchases`` and ``trend_spend``: (second half - first half) /
      total of the purchase periods (their amounts) over the customer's
      tenure split at its midpoint, from -1 (all early) to 1 (all late);
    * ``season_share`` (with ``season_days``): share of the purchase periods
      that fell in the same days of an earlier year as the ``season_days``
      after the cutoff (a year is 365.25 days); NaN for customers whose
      tenure holds no such earlier season;
    * ``x_<column>_<aggregation>``: the extra columns, see
      :func:`resolve_extra_columns`; categorical ones per level in ``levels``
      plus ``other``.

    Args:
        transactions: A canonical log; later rows are allowed and ignored.
        cutoff: The last day seen (inclusive).
        windows: Lengths of the recent windows, in ``time_unit``.
        time_unit: Unit of every duration.
        extra_columns: Which extra columns to aggregate, and how.
        levels: Levels of the categorical extra columns. ``None`` picks the
            ``top_levels`` most frequent levels from the rows up to the cutoff;
            pass the levels chosen at training time when scoring.
        top_levels: How many levels when ``levels`` is ``None``.
        grain: Purchase-period grain (see :func:`purchase_periods`).
        returns: Returns policy (see :func:`purchase_periods`).
        month_days: Days in a month, for monthly units.
        season_days: Length of the coming period whose season is measured
            (the label window); ``None`` for no ``season_share`` column.

    Returns:
        Indexed by ``customer_id``. ``attrs`` holds ``cutoff`` and ``levels``.

    Raises:
        DataValidationError: The log is not canonical, or holds no purchase
            period on or before the cutoff.
        ConfigError: A window is not positive, or ``extra_columns`` is invalid.
    """
    check_transactions(transactions)
    bad = [w for w in windows if not (isinstance(w, (int, float)) and w > 0)]
    if bad:
        raise ConfigError(f"features: windows must be positive numbers; got {bad}.")
    scale = unit_days(time_unit, month_days=month_days)
    kept, end = rows_up_to(transactions, cutoff)
    spec = resolve_extra_columns(kept, extra_columns)
    if levels is None:
        levels = choose_levels(kept, spec, top_levels=top_levels)

    periods = purchase_periods(kept, grain=grain, returns=returns)
    if len(periods.customer_codes) == 0:
        first = transactions["timestamp"].min()
        raise DataValidationError(
            f"features: no purchase period on or before the cutoff {end.date()} "
            f"(the log starts {first}); choose a later cutoff."
        )
    end_day = end.value / 86_400e9 + (1.0 if grain == "exact" else 0.0)
    columns, ids = _period_features(periods, end_day, scale, windows, season_days)
    frame = pd.DataFrame(
        columns, index=pd.Index(ids, name="customer_id", dtype="object")
    )

    row_codes, row_ids = pd.factorize(kept["customer_id"], sort=False)
    position = pd.Index(row_ids).get_indexer(frame.index)
    row_columns = _row_features(kept, row_codes, len(row_ids), spec, levels)
    for name, values in row_columns.items():
        frame[name] = values[position]

    frame = frame.sort_index()
    frame.attrs.update(cutoff=end, levels={k: list(v) for k, v in levels.items()})
    logger.debug(
        "Built %d features for %d customers at %s",
        frame.shape[1],
        len(frame),
        end.date(),
    )
    return frame


def _period_features(
    periods: PurchasePeriods,
    end_day: float,
    scale: float,
    windows: Sequence[float],
    season_days: float | None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    codes, day, amount = periods.customer_codes, periods.period, periods.amount
    first_mask = np.ones(len(codes), dtype=bool)
    first_mask[1:] = codes[1:] != codes[:-1]
    starts = np.flatnonzero(first_mask)
    counts = np.diff(np.append(starts, len(codes)))
    last = starts + counts - 1
    block = np.repeat(np.arange(len(starts)), counts)
    n_customers = len(starts)

    frequency = (counts - 1).astype("float64")
    first_day, last_day = day[starts], day[last]
    period_spend = np.add.reduceat(amount, starts)
    first_amount, last_amount = amount[starts], amount[last]
    repeat = frequency > 0
    columns: dict[str, np.ndarray] = {
        "frequency": frequency,
        "recency": (last_day - first_day) / scale,
        "T": (end_day - first_day) / scale,
        "monetary_value": np.where(
            repeat, (period_spend - first_amount) / np.maximum(frequency, 1), 0.0
        ),
    }
    columns["recency_gap"] = columns["T"] - columns["recency"]
    columns["mean_amount"] = period_spend / counts
    columns["first_amount"] = first_amount
    columns["last_amount"] = last_amount
    columns["max_amount"] = np.maximum.reduceat(amount, starts)

    gaps = np.empty(len(day))
    gaps[1:] = np.diff(day) / scale
    gaps[starts] = np.nan
    filled = np.nan_to_num(gaps)
    gap_sum = np.add.reduceat(filled, starts)
    gap_sq = np.add.reduceat(filled**2, starts)
    n_gaps = frequency
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_gap = np.where(repeat, gap_sum / n_gaps, np.nan)
        variance = np.where(n_gaps >= 2, gap_sq / n_gaps - mean_gap**2, np.nan)
        columns["ipt_mean"] = mean_gap
        columns["ipt_std"] = np.sqrt(np.clip(variance, 0.0, None))
        columns["ipt_min"] = np.fmin.reduceat(gaps, starts)
        columns["ipt_max"] = np.fmax.reduceat(gaps, starts)
        columns["overdue"] = np.where(repeat, columns["recency_gap"] / mean_gap, np.nan)

    for window in windows:
        inside = day > end_day - float(window) * scale
        label = f"{float(window):g}".replace(".", "_")
        columns[f"purchases_last_{label}"] = np.bincount(
            block[inside], minlength=n_customers
        ).astype("float64")
        columns[f"spend_last_{label}"] = np.bincount(
            block[inside], weights=amount[inside], minlength=n_customers
        )

    midpoint = (first_day + end_day) / 2.0
    late = day > midpoint[block]
    n_late = np.bincount(block[late], minlength=n_customers)
    spend_late = np.bincount(block[late], weights=amount[late], minlength=n_customers)
    columns["trend_purchases"] = (2.0 * n_late - counts) / counts
    with np.errstate(invalid="ignore", divide="ignore"):
        columns["trend_spend"] = np.where(
            period_spend > 0, (2.0 * spend_late - period_spend) / period_spend, np.nan
        )
    if season_days is not None and 0 < season_days < DAYS_PER_YEAR:
        # Days since the day after the cutoff, folded onto one year.
        phase = np.mod(day - (end_day + 1.0), DAYS_PER_YEAR)
        in_season = phase < season_days
        share = np.bincount(block[in_season], minlength=n_customers) / counts
        seen = (end_day - first_day) >= DAYS_PER_YEAR - season_days
        columns["season_share"] = np.where(seen, share, np.nan)
    ids = periods.customers[codes[starts]]
    return columns, ids


def _row_features(
    kept: pd.DataFrame,
    codes: np.ndarray,
    n_customers: int,
    spec: Mapping[str, Sequence[str]],
    levels: Mapping[str, Sequence[str]],
) -> dict[str, np.ndarray]:
    amount = kept["amount"].to_numpy(dtype="float64")
    n_rows = np.bincount(codes, minlength=n_customers).astype("float64")
    columns = {
        "total_spend": np.bincount(codes, weights=amount, minlength=n_customers),
        "n_rows": n_rows,
        "n_returns": np.bincount(codes[amount < 0], minlength=n_customers).astype(
            "float64"
        ),
    }
    for column, aggregations in spec.items():
        if column not in kept.columns:
            raise DataValidationError(
                f"features: extra column {column!r} is missing from the log; the "
                f"model was trained with it. The log has {list(kept.columns)}."
            )
        values = kept[column]
        if set(aggregations) <= set(NUMERIC_AGGREGATIONS):
            columns.update(_numeric(column, values, codes, n_customers, aggregations))
        else:
            known = list(levels.get(column, []))
            columns.update(
                _categorical(
                    column,
                    values,
                    codes,
                    n_customers,
                    aggregations,
                    known,
                    amount,
                    n_rows,
                )
            )
    return columns


def _numeric(
    column: str,
    values: pd.Series,
    codes: np.ndarray,
    n_customers: int,
    aggregations: Sequence[str],
) -> dict[str, np.ndarray]:
    if not pd.api.types.is_numeric_dtype(values.dtype):
        values = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    present = ~np.isnan(numbers)
    total = np.bincount(codes[present], weights=numbers[present], minlength=n_customers)
    n_present = np.bincount(codes[present], minlength=n_customers)
    out: dict[str, np.ndarray] = {}
    name = f"x_{_safe(column)}"
    for aggregation in aggregations:
        if aggregation == "sum":
            out[f"{name}_sum"] = total
        elif aggregation == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"{name}_mean"] = np.where(n_present > 0, total / n_present, np.nan)
        else:
            grouped = pd.Series(numbers[present]).groupby(codes[present])
            reduced = grouped.min() if aggregation == "min" else grouped.max()
            full = np.full(n_customers, np.nan)
            full[reduced.index.to_numpy()] = reduced.to_numpy()
            out[f"{name}_{aggregation}"] = full
    return out


def _categorical(
    column: str,
    values: pd.Series,
    codes: np.ndarray,
    n_customers: int,
    aggregations: Sequence[str],
    known: list[str],
    amount: np.ndarray,
    n_rows: np.ndarray,
) -> dict[str, np.ndarray]:
    k = len(known)
    # Factorise once, then map the few distinct values onto the known levels.
    value_codes, distinct = pd.factorize(values, use_na_sentinel=True)
    names = np.asarray([str(v) for v in distinct], dtype=object)
    lookup = pd.Index(known, dtype=object).get_indexer(names).astype("int64")
    lookup[lookup < 0] = k  # unknown: "other"
    level_codes = np.append(lookup, k)[value_codes]  # missing (-1): "other"
    cell = codes.astype("int64") * (k + 1) + level_codes
    size = n_customers * (k + 1)
    counts = (
        np.bincount(cell, minlength=size).reshape(n_customers, k + 1).astype("float64")
    )
    out: dict[str, np.ndarray] = {}
    for aggregation in aggregations:
        if aggregation == "counts":
            table = counts
        elif aggregation == "shares":
            table = counts / np.maximum(n_rows, 1)[:, None]
        else:
            spend = np.bincount(cell, weights=amount, minlength=size).reshape(
                n_customers, k + 1
            )
            total = spend.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                table = np.where(total[:, None] > 0, spend / total[:, None], np.nan)
        prefix = {"counts": "count", "shares": "share", "spend_shares": "spend_share"}[
            aggregation
        ]
        for j, name in enumerate(level_feature_names(column, known, prefix)):
            out[name] = table[:, j]
    return out


# --- labels ------------------------------------------------------------------


def build_labels(
    transactions: pd.DataFrame,
    cutoff: object,
    *,
    window_days: float,
    customers: pd.Index,
    grain: str = "day",
    returns: str = "net",
) -> pd.DataFrame:
    """What each customer bought in the ``window_days`` days after the cutoff.

    The window runs from the day after the cutoff through the day
    ``cutoff + window_days``, as the engine's holdout does: ``purchases``
    counts its purchase periods, ``spend`` sums their amounts.

    Returns:
        Indexed like ``customers``: ``purchases`` and ``spend`` (0 without any).
    """
    end = pd.Timestamp(cutoff).normalize()
    start, stop = end + _DAY, end + _DAY + pd.Timedelta(days=float(window_days))
    stamps = transactions["timestamp"]
    inside = ((stamps >= start) & (stamps < stop)).to_numpy()
    rows = transactions[inside]
    rows = rows[rows["customer_id"].isin(customers).to_numpy()]
    frame = pd.DataFrame(
        {"purchases": 0.0, "spend": 0.0}, index=pd.Index(customers, name="customer_id")
    )
    if rows.empty:
        return frame
    periods = purchase_periods(rows, grain=grain, returns=returns)
    ids = periods.customers[periods.customer_codes]
    per = pd.DataFrame({"c": ids, "spend": periods.amount}).groupby("c", sort=False)[
        "spend"
    ]
    frame["purchases"] = per.size().reindex(frame.index, fill_value=0).astype("float64")
    frame["spend"] = per.sum().reindex(frame.index, fill_value=0.0).astype("float64")
    return frame
