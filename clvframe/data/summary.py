"""Customer summaries (RFM) and the calibration/holdout split.

Definitions (Fader and Hardie; lifetimes and PyMC-Marketing use the same):
``frequency`` is the number of purchase periods minus one, ``recency`` the
time from the first to the last purchase period, ``T`` the time from the first
purchase period to the observation end, and ``monetary_value`` the mean amount
of the repeat periods (0 when frequency is 0). recency and T are expressed in
the time unit; the unit scales them and never changes what is counted.
Everything here is vectorised over customers.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass
from dataclasses import field

import numpy as np
import pandas as pd

from clvframe.data.transactions import PurchasePeriods
from clvframe.data.transactions import check_period_options
from clvframe.data.transactions import check_transactions
from clvframe.data.transactions import periods_from_codes
from clvframe.data.transactions import purchase_periods
from clvframe.data.transactions import returned_rows_kept
from clvframe.data.units import DEFAULT_MONTH_DAYS
from clvframe.data.units import unit_days
from clvframe.errors import ConfigError
from clvframe.errors import DataValidationError
from clvframe.errors import DataWarning

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")
_DAY = pd.Timedelta(days=1)

logger = logging.getLogger(__name__)


_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}"
    r"([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)


def parse_day(value: object, key: str) -> pd.Timestamp:
    """Read a date setting as the midnight of its day.

    Text must be ISO 8601 (``YYYY-MM-DD``): ``01/02/2020`` is ambiguous and
    never guessed. Timestamps and dates are taken as they are.

    Raises:
        ConfigError: The value is not an ISO date.
    """
    if isinstance(value, str):
        if not _ISO_DATE.match(value.strip()):
            raise ConfigError(
                f"{key}: {value!r} is not an ISO 8601 date; write it as YYYY-MM-DD "
                "(dates such as 01/02/2020 are ambiguous and never guessed)."
            )
        value = value.strip()
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{key}: {value!r} is not a date ({err}).") from err
    if pd.isna(stamp):
        raise ConfigError(f"{key}: a date is needed; got {value!r}.")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return stamp.normalize()


def restrict_to_observation(
    transactions: pd.DataFrame, observation_end: object | None
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Keep the rows up to the observation end (a whole day, inclusive).

    Without an end, the latest date in the data is the end. Rows after the end
    are left out with a warning that counts them and the customers left out
    entirely.

    Returns:
        The kept rows and the observation end (midnight of its day).

    Raises:
        DataValidationError: The log is empty, or the end falls before all of it.
    """
    check_transactions(transactions)
    if transactions.empty:
        raise DataValidationError("transactions: the log has no rows.")
    stamps = transactions["timestamp"]
    first, last = stamps.min(), stamps.max()
    if observation_end is None:
        return transactions, last.normalize()
    end = parse_day(observation_end, "data.observation_end")
    after = (stamps >= end + _DAY).to_numpy()
    if after.all():
        raise DataValidationError(
            f"observation end {end.date()} falls before all the data, which runs "
            f"from {first.date()} to {last.date()}; choose a later end."
        )
    if after.any():
        ids = transactions["customer_id"]
        gone = np.setdiff1d(ids[after].unique(), ids[~after].unique())
        example = f" (first: {gone[0]!r})" if len(gone) else ""
        warnings.warn(
            f"transactions: {int(after.sum())} rows fall after the observation end "
            f"{end.date()} and were left out; {len(gone)} customers had only such "
            f"rows and are left out entirely{example}.",
            DataWarning,
            stacklevel=3,
        )
        transactions = transactions[~after]
    return transactions, end


def _customer_blocks(periods: PurchasePeriods) -> tuple[np.ndarray, np.ndarray]:
    """Start index and count of each customer's run of periods."""
    codes = periods.customer_codes
    first = np.ones(len(codes), dtype=bool)
    first[1:] = codes[1:] != codes[:-1]
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, len(codes)))
    return starts, counts


def _rfm(periods: PurchasePeriods, end_day: float, scale: float) -> pd.DataFrame:
    starts, counts = _customer_blocks(periods)
    last = starts + counts - 1
    first_day = periods.period[starts]
    frequency = counts - 1
    total = np.add.reduceat(periods.amount, starts) if len(starts) else np.zeros(0)
    repeat_total = total - periods.amount[starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, repeat_total / np.maximum(frequency, 1), 0.0)
    ids = periods.customers[periods.customer_codes[starts]]
    frame = pd.DataFrame(
        {
            "frequency": frequency.astype("int64"),
            "recency": (periods.period[last] - first_day) / scale,
            "T": (end_day - first_day) / scale,
            "monetary_value": monetary,
            "first_purchase": pd.to_datetime(first_day * 86_400, unit="s"),
        },
        index=pd.Index(ids, name="customer_id", dtype="object"),
    )
    return frame


def _end_day(end: pd.Timestamp, grain: str) -> float:
    # In whole days, whatever the timestamp's resolution (end.value, in
    # nanoseconds, overflows outside 1677-2262).
    days = float(end.to_datetime64().astype("datetime64[D]").astype(np.int64))
    return days + 1.0 if grain == "exact" else days


def summarise(
    transactions: pd.DataFrame,
    *,
    observation_end: object | None = None,
    time_unit: str = "week",
    grain: str = "day",
    returns: str = "net",
    month_days: float = DEFAULT_MONTH_DAYS,
) -> pd.DataFrame:
    """Summarise a transaction log into one RFM row per customer.

    Args:
        transactions: A canonical log (see :func:`prepare_transactions`).
        observation_end: Last day observed (inclusive); the latest date in the
            log by default. Later rows are left out with a warning.
        time_unit: Unit of recency and T: day, week, month or year.
        grain: ``"day"`` merges a customer's orders of one day into one
            purchase period; ``"exact"`` keeps each distinct timestamp.
        returns: Returns policy, see :func:`purchase_periods`.
        month_days: Days in a month, when the unit is a month.

    Returns:
        Indexed by ``customer_id``: frequency, recency, T, monetary_value,
        ``total_spend`` (historic net spend, returns included) and
        ``first_purchase``. ``frame.attrs`` records the observation end and
        the time unit.
    """
    scale = unit_days(time_unit, month_days=month_days)
    kept, end = restrict_to_observation(transactions, observation_end)
    # Factorise the ids once, for the periods and the total spend alike.
    codes, customers = pd.factorize(kept["customer_id"], sort=False)
    amounts = kept["amount"].to_numpy(dtype="float64")
    check_period_options(grain, returns)
    keep = returned_rows_kept(kept, amounts, returns)
    if keep is None:
        periods = periods_from_codes(codes, customers, kept, amounts, grain)
    else:
        periods = periods_from_codes(
            codes[keep], customers, kept[keep], amounts[keep], grain
        )
    summary = _rfm(periods, _end_day(end, grain), scale)
    # Historic net spend counts every row kept, returns included.
    spend = np.bincount(codes, weights=amounts, minlength=len(customers))
    summarised = periods.customer_codes[_customer_blocks(periods)[0]]
    _warn_no_purchase(customers, summarised)
    summary["total_spend"] = spend[summarised]
    summary.attrs.update(observation_end=end, time_unit=time_unit, grain=grain)
    logger.info("Summarised %d customers up to %s", len(summary), end.date())
    return summary


def _warn_no_purchase(customers: pd.Index, summarised: np.ndarray) -> None:
    has_period = np.zeros(len(customers), dtype=bool)
    has_period[summarised] = True
    if not has_period.all():
        missing = np.asarray(customers, dtype=object)[~has_period]
        warnings.warn(
            f"transactions: {len(missing)} customers have no purchase period (only "
            f"returns or periods with a non-positive net amount; first: "
            f"{min(missing)!r}) and are not in the summary.",
            DataWarning,
            stacklevel=3,
        )


def calibration_and_holdout(
    transactions: pd.DataFrame,
    *,
    calibration_end: object,
    observation_end: object | None = None,
    time_unit: str = "week",
    grain: str = "day",
    returns: str = "net",
    month_days: float = DEFAULT_MONTH_DAYS,
) -> pd.DataFrame:
    """Summarise the calibration period and count purchases in the holdout.

    The calibration period runs to ``calibration_end`` (a whole day,
    inclusive); the holdout from the next day to the observation end.

    Returns:
        The calibration summary (as :func:`summarise`) of the customers whose
        first purchase falls in the calibration period, with
        ``frequency_holdout`` (all purchase periods in the holdout),
        ``monetary_value_holdout`` (their mean amount, 0 without any),
        ``spend_holdout`` (their total) and ``duration_holdout`` (in the time
        unit). ``frame.attrs["n_new_in_holdout"]`` counts the customers first
        seen in the holdout, who are left out.

    Raises:
        DataValidationError: The cutoff is not inside the observed period.
    """
    scale = unit_days(time_unit, month_days=month_days)
    kept, end = restrict_to_observation(transactions, observation_end)
    cutoff = parse_day(calibration_end, "split.calibration_end")
    first_day = kept["timestamp"].min().normalize()
    if not first_day <= cutoff < end:
        raise DataValidationError(
            f"calibration end {cutoff.date()} must fall inside the observed period "
            f"{first_day.date()} to {end.date()}, before its last day: set "
            "split.calibration_end=YYYY-MM-DD inside it, or "
            "split.calibration_end=null to run without a holdout."
        )
    in_calibration = (kept["timestamp"] < cutoff + _DAY).to_numpy()
    calibration = summarise(
        kept[in_calibration],
        observation_end=cutoff,
        time_unit=time_unit,
        grain=grain,
        returns=returns,
        month_days=month_days,
    )
    holdout = kept[~in_calibration]
    known = holdout["customer_id"].isin(calibration.index).to_numpy()
    n_new = holdout.loc[~known, "customer_id"].nunique()
    if n_new:
        logger.info("%d customers first seen in the holdout are not evaluated", n_new)
    periods = purchase_periods(holdout[known], grain=grain, returns=returns)
    starts, counts = _customer_blocks(periods)
    totals = np.add.reduceat(periods.amount, starts) if len(starts) else np.zeros(0)
    ids = periods.customers[periods.customer_codes[starts]]
    by_customer = pd.DataFrame(
        {"frequency_holdout": counts, "spend_holdout": totals},
        index=pd.Index(ids, dtype="object"),
    ).reindex(calibration.index, fill_value=0)
    frame = calibration.assign(
        frequency_holdout=by_customer["frequency_holdout"].astype("int64"),
        spend_holdout=by_customer["spend_holdout"].astype("float64"),
    )
    frame["monetary_value_holdout"] = np.where(
        frame["frequency_holdout"] > 0,
        frame["spend_holdout"] / frame["frequency_holdout"].clip(lower=1),
        0.0,
    )
    frame["duration_holdout"] = (end - cutoff).days / scale
    frame.attrs.update(
        calibration.attrs,
        calibration_end=cutoff,
        observation_end=end,
        n_new_in_holdout=int(n_new),
    )
    return frame


@dataclass
class CustomerData:
    """What an estimator sees: the log up to an end date and its summary.

    Probabilistic models use ``summary``; models that learn from the log
    (LightGBM) use ``transactions``. Build one with :meth:`from_transactions`
    or, when a warehouse computed the summary, :meth:`from_summary`.

    Attributes:
        summary: One row per customer (see :func:`summarise`).
        transactions: The canonical log up to ``observation_end``, or ``None``
            when only a summary is known.
        observation_end: The last day observed.
        time_unit: The unit of recency and T.
        grain: How orders were merged into purchase periods.
        month_days: Days in a month.
    """

    summary: pd.DataFrame
    transactions: pd.DataFrame | None = None
    observation_end: pd.Timestamp | None = None
    time_unit: str = "week"
    grain: str = "day"
    returns: str = "net"
    month_days: float = DEFAULT_MONTH_DAYS
    attrs: dict[str, object] = field(default_factory=dict)

    @classmethod
    def from_transactions(
        cls,
        transactions: pd.DataFrame,
        *,
        observation_end: object | None = None,
        time_unit: str = "week",
        grain: str = "day",
        returns: str = "net",
        month_days: float = DEFAULT_MONTH_DAYS,
    ) -> CustomerData:
        """Summarise a log up to ``observation_end`` and keep both."""
        kept, end = restrict_to_observation(transactions, observation_end)
        summary = summarise(
            kept,
            observation_end=end,
            time_unit=time_unit,
            grain=grain,
            returns=returns,
            month_days=month_days,
        )
        return cls(summary, kept, end, time_unit, grain, returns, month_days)

    @classmethod
    def from_summary(
        cls,
        summary: pd.DataFrame,
        *,
        time_unit: str = "week",
        observation_end: object | None = None,
    ) -> CustomerData:
        """Wrap a summary computed elsewhere, after checking it."""
        frame = check_summary(summary)
        end = (
            parse_day(observation_end, "observation_end")
            if observation_end is not None
            else None
        )
        return cls(frame, None, end, time_unit)

    def unit_days(self) -> float:
        """Length of this data's time unit in days."""
        return unit_days(self.time_unit, month_days=self.month_days)


def check_summary(
    summary: pd.DataFrame, *, require_monetary: bool = False
) -> pd.DataFrame:
    """Check a customer summary and return it with float columns.

    Every problem is reported at once, each with its count and first customers.

    Raises:
        DataValidationError: A column is missing, or rows break
            0 <= recency <= T, frequency >= 0 (whole), or frequency > 0 with
            recency 0.
    """
    required = [*SUMMARY_COLUMNS[:3], *(["monetary_value"] if require_monetary else [])]
    missing = [c for c in required if c not in summary.columns]
    if missing:
        raise DataValidationError(
            f"summary: missing column(s) {missing}; a summary has "
            f"{list(SUMMARY_COLUMNS)} (monetary_value for spend models)."
        )
    # Only columns that are not float64 already are converted; the frame is
    # a lazy copy otherwise (a million-row summary is checked in milliseconds).
    frame = summary.assign(
        **{
            column: _as_float(summary[column])
            for column in required
            if summary[column].dtype != np.float64
        }
    )
    f, r, t = (frame[c].to_numpy() for c in SUMMARY_COLUMNS[:3])
    finite = np.isfinite(f) & np.isfinite(r) & np.isfinite(t)
    if require_monetary:
        finite &= np.isfinite(frame["monetary_value"].to_numpy())
    checks = {
        "have missing or non-numeric values": ~finite,
        "have a negative or fractional frequency": (f < 0) | (f != np.floor(f)),
        "have recency < 0 or recency > T": (r < 0) | (r > t + 1e-9),
        "have frequency > 0 but recency 0": (f > 0) & (r == 0),
    }
    problems = []
    for what, bad in checks.items():
        if np.any(bad):
            first = list(frame.index[np.asarray(bad)][:3])
            problems.append(f"{int(np.sum(bad))} rows {what} (first: {first})")
    if problems:
        raise DataValidationError("summary: " + "; ".join(problems) + ".")
    return frame


def _as_float(column: pd.Series) -> pd.Series:
    """A column as float64; text that is not a number becomes NaN."""
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iuf":
        return column.astype("float64")
    return pd.to_numeric(column, errors="coerce").astype("float64")
