"""The canonical transaction log: validation at load, and purchase periods.

A transaction log has one row per order (or order line) with the canonical
columns ``customer_id`` (string), ``timestamp`` (naive datetime in the business
time zone) and ``amount`` (float), plus any extra columns. Validation happens
once, in :func:`prepare_transactions`; every error names the column, the number
of bad rows and the first examples, with their line in the file when the log
came from one. Nothing is dropped without a warning that counts it.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import warnings
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvframe.errors import ConfigError
from clvframe.errors import DataValidationError
from clvframe.errors import DataWarning

CANONICAL_COLUMNS = ("customer_id", "timestamp", "amount")
RETURN_POLICIES = ("net", "drop", "fail")
INVALID_POLICIES = ("error", "drop")
GRAINS = ("day", "exact")
_MAX_EXAMPLES = 3
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """Where rows came from, so that errors can point at lines of a file.

    Attributes:
        name: A file path or a short description of the data.
        first_line: File line of the frame's first row (2 for a CSV file with
            one header line), or ``None`` when rows have no lines.
    """

    name: str = "transactions"
    first_line: int | None = None
    columns: tuple[tuple[str, str], ...] = ()

    def column(self, canonical: str) -> str:
        """Name a canonical column, with the file column it was read from."""
        read_from = dict(self.columns).get(canonical, canonical)
        if read_from == canonical:
            return repr(canonical)
        return f"{canonical!r} (read from {read_from!r})"

    def where(self, positions: np.ndarray, values: Sequence[object]) -> str:
        """Describe the first bad rows: values, with lines when known."""
        parts = []
        for pos, value in zip(positions[:_MAX_EXAMPLES], values[:_MAX_EXAMPLES]):
            if self.first_line is None:
                parts.append(f"{value!r} (row {int(pos)})")
            else:
                parts.append(f"{value!r} (line {int(pos) + self.first_line})")
        return ", ".join(parts)


def prepare_transactions(
    raw: pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    date_format: str | None = None,
    business_timezone: str | None = None,
    invalid_amounts: str = "error",
    deduplicate: bool = False,
    source: Source | None = None,
) -> pd.DataFrame:
    """Validate a raw log and return it with canonical columns and types.

    Args:
        raw: The log as read, ideally with every column as text (so ids keep
            their leading zeros).
        columns: Map from canonical name to the source column, e.g.
            ``{"customer_id": "cust", "timestamp": "date", "amount": "value"}``.
            Canonical names missing from the map are looked up as they are.
        date_format: A ``strftime`` format for the timestamps. Without one,
            only ISO 8601 text is accepted: ambiguous dates such as
            ``03/04/2021`` are never guessed.
        business_timezone: Time-zone-aware timestamps are converted to this
            zone before days are taken; naive ones are taken to be in it.
        invalid_amounts: ``"error"`` (default) or ``"drop"`` (with a warning
            that counts the rows and shows the first values).
        deduplicate: Drop exact duplicate rows. A warning counts them whether
            or not they are dropped; real logs hold legitimate identical rows
            (two identical items in one order), so this is off by default.
        source: Where the rows came from, for error messages.

    Returns:
        A new frame: ``customer_id`` (str), ``timestamp`` (datetime64, naive),
        ``amount`` (float64), then the extra columns, in the original order.

    Raises:
        DataValidationError: A column is missing, or values cannot be read.
    """
    source = source or Source()
    if invalid_amounts not in INVALID_POLICIES:
        raise ConfigError(
            f"invalid_amounts must be one of {list(INVALID_POLICIES)}; "
            f"got {invalid_amounts!r}."
        )
    frame = _select_columns(raw, columns or {}, source)
    source = dataclasses.replace(
        source,
        columns=tuple((c, (columns or {}).get(c, c)) for c in CANONICAL_COLUMNS),
    )
    frame = frame.reset_index(drop=True)
    positions = np.arange(len(frame))

    ids = _parse_customer_ids(frame["customer_id"])
    amounts = _parse_amounts(frame["amount"], source)
    stamps = _parse_timestamps(
        frame["timestamp"], date_format, business_timezone, source
    )

    keep = np.ones(len(frame), dtype=bool)
    keep &= _report_missing_ids(ids, amounts, source)
    bad_amount = amounts.isna().to_numpy() & keep
    if bad_amount.any():
        _handle_bad_amounts(
            frame["amount"], bad_amount, positions, invalid_amounts, source
        )
        keep &= ~bad_amount

    result = frame.assign(customer_id=ids, timestamp=stamps, amount=amounts)[keep]
    result = _handle_duplicates(result, deduplicate, source)
    logger.info(
        "Loaded %d rows for %d customers from %s",
        len(result),
        result["customer_id"].nunique(),
        source.name,
    )
    return result.reset_index(drop=True)


def _select_columns(
    raw: pd.DataFrame, columns: Mapping[str, str], source: Source
) -> pd.DataFrame:
    unknown = sorted(set(columns) - set(CANONICAL_COLUMNS))
    if unknown:
        raise ConfigError(
            f"loader.params.columns: {unknown} are not canonical columns; map source "
            f"columns onto {list(CANONICAL_COLUMNS)}."
        )
    mapping = {
        canonical: columns.get(canonical, canonical) for canonical in CANONICAL_COLUMNS
    }
    missing = [f"{c} (from {s!r})" for c, s in mapping.items() if s not in raw.columns]
    if missing:
        raise DataValidationError(
            f"{source.name}: missing column(s) {', '.join(missing)}; the data has "
            f"{list(map(str, raw.columns))}. Map them with loader.params.columns."
        )
    renamed = raw.rename(columns={s: c for c, s in mapping.items()})
    extras = [c for c in renamed.columns if c not in CANONICAL_COLUMNS]
    return renamed[[*CANONICAL_COLUMNS, *extras]]


def _parse_customer_ids(values: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(values):
        # A float id column has lost leading zeros and may print as '123.0';
        # keep integral values as integers, but read ids as text upstream.
        integral = values.notna() & (values % 1 == 0)
        text = values.astype("string")
        text[integral] = values[integral].astype("int64").astype("string")
    else:
        text = values.astype("string").str.strip()
    text = text.mask(text == "")
    return text.astype("object").where(text.notna(), None)


def _report_missing_ids(
    ids: pd.Series, amounts: pd.Series, source: Source
) -> np.ndarray:
    missing = ids.isna().to_numpy()
    if missing.any():
        total = float(np.nansum(amounts.to_numpy()[missing]))
        warnings.warn(
            f"{source.name}: {int(missing.sum())} rows have no customer_id "
            f"(amount {total:,.2f} in all) and were left out; first: "
            f"{source.where(np.flatnonzero(missing), ['' for _ in range(3)])}.",
            DataWarning,
            stacklevel=4,
        )
    return ~missing


def _parse_amounts(values: pd.Series, source: Source) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    text = values.astype("string").str.strip()
    parsed = pd.to_numeric(text, errors="coerce").astype("float64")
    # "inf" and "1e999" parse, but no order is worth infinity.
    parsed = parsed.mask(np.isinf(parsed))
    failed = parsed.isna() & text.notna()
    if failed.any():
        # Thousands separators only where the grouping is exact ("1,250.00"),
        # so a decimal comma ("12,5") is reported instead of silently misread.
        retry = text[failed]
        grouped = retry.str.match(_THOUSANDS.pattern).fillna(False).astype(bool)
        cleaned = retry[grouped].str.replace(",", "", regex=False)
        parsed[cleaned.index] = pd.to_numeric(cleaned, errors="coerce")
    return parsed


def _handle_bad_amounts(
    original: pd.Series,
    bad: np.ndarray,
    positions: np.ndarray,
    policy: str,
    source: Source,
) -> None:
    where = np.flatnonzero(bad)
    examples = source.where(
        positions[where], list(original.iloc[where[:_MAX_EXAMPLES]])
    )
    message = (
        f"{source.name}: column {source.column('amount')}: {len(where)} values "
        "are not numbers: "
        f"{examples}"
    )
    if policy == "error":
        raise DataValidationError(
            f"{message}. Fix them, or set loader.params.invalid_amounts=drop to leave "
            "those rows out."
        )
    warnings.warn(f"{message}; those rows were left out.", DataWarning, stacklevel=4)


def _parse_timestamps(
    values: pd.Series,
    date_format: str | None,
    business_timezone: str | None,
    source: Source,
) -> pd.Series:
    zone = _check_zone(business_timezone)
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_convert(zone).dt.tz_localize(None)
    else:
        parsed = _parse_text_dates(values, date_format, zone, source)
    return parsed.astype("datetime64[ns]")


def _check_zone(business_timezone: str | None) -> str:
    zone = business_timezone or "UTC"
    try:
        pd.Timestamp("2000-01-01", tz=zone)
    except Exception as err:  # noqa: BLE001 - zone lookups raise several types
        raise ConfigError(
            f"loader.params.business_timezone: {zone!r} is not a time zone "
            "(use an IANA name such as 'Europe/Berlin' or 'America/New_York')."
        ) from err
    return zone


_AWARE = r"(?:Z|[+-]\d{2}:?\d{2})$"


def _parse_text_dates(
    values: pd.Series, date_format: str | None, zone: str, source: Source
) -> pd.Series:
    text = values.astype("string").str.strip()
    fmt = date_format or "ISO8601"
    # Aware stamps ("...+02:00", "...Z") are converted to the business zone;
    # naive ones are already in it. Each kind is parsed on its own, so a mix
    # of both (or of several offsets) never shifts the naive ones.
    aware = text.str.contains(_AWARE, regex=True).fillna(False).to_numpy(dtype=bool)
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    if (~aware).any():
        parsed[~aware] = pd.to_datetime(text[~aware], format=fmt, errors="coerce")
    if aware.any():
        converted = pd.to_datetime(text[aware], format=fmt, errors="coerce", utc=True)
        parsed[aware] = converted.dt.tz_convert(zone).dt.tz_localize(None)
    bad = parsed.isna().to_numpy()
    if bad.any():
        where = np.flatnonzero(bad)
        examples = source.where(where, list(text.iloc[where[:_MAX_EXAMPLES]]))
        if date_format:
            hint = f"they do not match loader.params.date_format {date_format!r}"
        else:
            hint = (
                "they are not ISO 8601 dates (YYYY-MM-DD[ HH:MM[:SS]]), or not "
                "real dates; ambiguous dates are never guessed, so for other "
                "layouts set loader.params.date_format, e.g. '%d/%m/%Y' for "
                "day-first or '%m/%d/%Y' for month-first dates"
            )
        raise DataValidationError(
            f"{source.name}: column {source.column('timestamp')}: {len(where)} "
            f"values cannot be read as dates: {examples}; {hint}."
        )
    return parsed


def _handle_duplicates(
    frame: pd.DataFrame, deduplicate: bool, source: Source
) -> pd.DataFrame:
    duplicated = frame.duplicated(keep="first").to_numpy()
    n_dup = int(duplicated.sum())
    if n_dup == 0:
        return frame
    first = frame[duplicated].iloc[0]
    action = (
        "dropped (loader.params.deduplicate=true)"
        if deduplicate
        else "kept, as identical items bought together are legitimate; set "
        "loader.params.deduplicate=true to drop them"
    )
    warnings.warn(
        f"{source.name}: {n_dup} rows are exact duplicates of an earlier row "
        f"(first: customer {first['customer_id']!r} on {first['timestamp']}); "
        f"{action}.",
        DataWarning,
        stacklevel=4,
    )
    return frame[~duplicated] if deduplicate else frame


def check_transactions(frame: pd.DataFrame) -> None:
    """Check that a frame has the canonical columns and types.

    Raises:
        DataValidationError: A canonical column is missing or has the wrong type.
    """
    missing = [c for c in CANONICAL_COLUMNS if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"transactions: missing column(s) {missing}; load them with a loader "
            "or clvframe.prepare_transactions()."
        )
    if not pd.api.types.is_datetime64_any_dtype(frame["timestamp"]):
        raise DataValidationError(
            "transactions: column 'timestamp' must be datetime; got "
            f"{frame['timestamp'].dtype}. Use clvframe.prepare_transactions()."
        )
    zone = getattr(frame["timestamp"].dtype, "tz", None)
    if zone is not None:
        # A day, and so a purchase period, begins at midnight in the
        # business's own zone; which zone that is cannot be guessed.
        raise DataValidationError(
            f"transactions: column 'timestamp' is time-zone aware ({zone}); "
            "days are counted in the business's local time. Convert with "
            "clvframe.prepare_transactions(frame, business_timezone=...), or "
            "frame['timestamp'].dt.tz_convert(zone).dt.tz_localize(None)."
        )
    if not pd.api.types.is_numeric_dtype(frame["amount"]):
        raise DataValidationError(
            "transactions: column 'amount' must be numeric; got "
            f"{frame['amount'].dtype}."
        )


@dataclass(frozen=True)
class PurchasePeriods:
    """Purchase periods of a log, sorted by customer then period.

    Attributes:
        customer_codes: Integer code of each period's customer.
        customers: The customer id of each code.
        period: Start of each period, in days since the epoch (float; whole
            days on the day grain).
        amount: Net amount of each period.
    """

    customer_codes: np.ndarray
    customers: np.ndarray
    period: np.ndarray
    amount: np.ndarray


def purchase_periods(
    frame: pd.DataFrame, *, grain: str = "day", returns: str = "net"
) -> PurchasePeriods:
    """Merge orders into purchase periods and apply the returns policy.

    Several orders of one customer in one period are one purchase period, their
    amounts summed. Under the ``"net"`` policy a period that holds a return
    counts only if its net amount stays positive; a period of zero-amount
    orders without returns still counts. ``"drop"`` leaves negative rows out
    (with a warning that counts them); ``"fail"`` raises on them.

    Raises:
        DataValidationError: ``returns="fail"`` and the log has negative amounts.
        ConfigError: Unknown grain or returns policy.
    """
    check_transactions(frame)
    check_period_options(grain, returns)
    amounts = frame["amount"].to_numpy(dtype="float64")
    keep = returned_rows_kept(frame, amounts, returns)
    if keep is not None:
        frame = frame[keep]
        amounts = amounts[keep]

    codes, customers = pd.factorize(frame["customer_id"], sort=False)
    return periods_from_codes(codes, customers, frame, amounts, grain)


def check_period_options(grain: str, returns: str) -> None:
    """Raise a ConfigError naming the choices if the grain or policy is unknown."""
    if grain not in GRAINS:
        raise ConfigError(f"grain must be one of {list(GRAINS)}; got {grain!r}.")
    if returns not in RETURN_POLICIES:
        raise ConfigError(
            f"returns must be one of {list(RETURN_POLICIES)}; got {returns!r}."
        )


def returned_rows_kept(
    frame: pd.DataFrame, amounts: np.ndarray, returns: str
) -> np.ndarray | None:
    """Apply the returns policy to negative rows: a keep-mask, or None for all.

    Raises:
        DataValidationError: ``returns="fail"`` and the log has negative amounts.
    """
    negative = amounts < 0
    if returns == "net" or not negative.any():
        return None
    first = frame["customer_id"].to_numpy()[np.flatnonzero(negative)[0]]
    message = (
        f"transactions: {int(negative.sum())} rows have negative amounts "
        f"(returns; first: customer {first!r})"
    )
    if returns == "fail":
        raise DataValidationError(
            f"{message}; set data.returns=net or drop to accept them."
        )
    warnings.warn(
        f"{message}; left out (data.returns=drop).", DataWarning, stacklevel=3
    )
    return ~negative


def periods_from_codes(
    codes: np.ndarray,
    customers: object,
    frame: pd.DataFrame,
    amounts: np.ndarray,
    grain: str,
) -> PurchasePeriods:
    """:func:`purchase_periods` on a log whose customer ids are already coded.

    Lets :func:`clvframe.data.summary.summarise` factorise the ids once (the
    costliest step on millions of string ids) for both the periods and the
    total spend. ``codes`` and ``amounts`` are aligned with ``frame``'s rows,
    after the returns policy.
    """
    ticks, per_day = _time_ticks(frame["timestamp"])
    # The key that separates purchase periods: the day on the day grain, the
    # timestamp itself on the exact grain.
    key = ticks // per_day if grain == "day" else ticks
    order = _customer_time_order(codes, key, grain)
    if order is not None:
        codes, key, amounts = codes[order], key[order], amounts[order]

    new_period = np.empty(len(codes), dtype=bool)
    new_period[:1] = True
    np.not_equal(codes[1:], codes[:-1], out=new_period[1:])
    new_period[1:] |= key[1:] != key[:-1]
    starts = np.flatnonzero(new_period)
    net = np.add.reduceat(amounts, starts) if len(starts) else amounts[:0]
    customer_codes = codes[starts]
    period = key[starts].astype(np.float64)
    if grain != "day":
        period /= per_day
    if len(amounts) and amounts.min() < 0:
        # Under the "net" policy a period with a return counts only if its
        # net amount stays positive.
        lowest = np.minimum.reduceat(amounts, starts)
        counts = (lowest >= 0) | (net > 0)
        customer_codes = customer_codes[counts]
        period, net = period[counts], net[counts]
    return PurchasePeriods(
        customer_codes=customer_codes,
        customers=np.asarray(customers, dtype=object),
        period=period,
        amount=net,
    )


def _time_ticks(stamps: pd.Series) -> tuple[np.ndarray, int]:
    """Timestamps as integer ticks since the epoch, and the ticks in a day.

    Read in the column's own resolution, so a log of microseconds is not
    copied into nanoseconds first.
    """
    values = stamps.to_numpy()
    unit, count = np.datetime_data(values.dtype)
    per_day = int(np.timedelta64(1, "D") // np.timedelta64(count, unit))
    return values.view("int64"), per_day


def _customer_time_order(
    codes: np.ndarray, key: np.ndarray, grain: str
) -> np.ndarray | None:
    """A stable order by customer then time, or None if the rows are in it.

    Logs usually come sorted by customer and time, and checking is far
    cheaper than sorting. On the day grain (``key`` in days) one integer key
    (customer, day) sorts faster than numpy's two-key lexsort.
    """
    same = codes[1:] == codes[:-1]
    if np.all((codes[1:] > codes[:-1]) | (same & (key[1:] >= key[:-1]))):
        return None
    if grain == "day" and len(key):
        days = key - key.min()
        combined = codes.astype(np.int64) * (int(days.max()) + 1) + days
        return np.argsort(combined, kind="stable")
    return np.lexsort((key, codes))
