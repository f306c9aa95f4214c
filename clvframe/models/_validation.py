"""Input checks and row compression shared by the probabilistic models.

Every check reports all bad rows at once: the problem, how many rows have it
and the first few positions (or customer ids, where the caller gave them).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from clvframe.errors import DataValidationError

logger = logging.getLogger(__name__)

#: How many offending rows an error message shows.
N_EXAMPLES = 5


def as_float_vector(values: Any, name: str) -> np.ndarray:
    """Convert ``values`` to a one-dimensional float array, checking it is finite.

    Args:
        values: Anything array-like (list, numpy array, pandas Series).
        name: Name of the argument, used in error messages.

    Returns:
        A float64 array of one dimension.

    Raises:
        DataValidationError: If the values are not numeric, not one-dimensional
            or hold NaN or infinite entries.
    """
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataValidationError(
            f"{name}: expected numbers, got values that cannot be read as floats "
            f"({err})."
        ) from err
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise DataValidationError(
            f"{name}: expected a one-dimensional array, got shape {array.shape}."
        )
    check_rows(~np.isfinite(array), f"{name} is NaN or infinite")
    return array


def describe_rows(mask: np.ndarray, ids: Sequence[Any] | None = None) -> str:
    """Describe the rows selected by ``mask``: their count and first examples.

    Args:
        mask: Boolean array, True for the rows to describe.
        ids: Customer ids aligned with the mask; positions are used without them.

    Returns:
        Text such as ``"3 rows (first at positions [0, 4, 9])"``.
    """
    positions = np.flatnonzero(mask)
    count = positions.size
    noun = "row" if count == 1 else "rows"
    first = positions[:N_EXAMPLES]
    if ids is not None:
        examples = [ids[int(i)] for i in first]
        return f"{count} {noun} (first customer ids: {examples!r})"
    return f"{count} {noun} (first at positions {first.tolist()})"


def check_rows(
    mask: np.ndarray, problem: str, ids: Sequence[Any] | None = None
) -> None:
    """Raise a :class:`DataValidationError` if any row is selected by ``mask``.

    Args:
        mask: Boolean array, True for the rows that have ``problem``.
        problem: What is wrong with those rows, e.g. ``"recency > T"``.
        ids: Optional customer ids for the message.

    Raises:
        DataValidationError: If ``mask`` selects at least one row.
    """
    if np.any(mask):
        raise DataValidationError(f"{problem}: {describe_rows(mask, ids)}.")


def check_same_length(**arrays: np.ndarray) -> None:
    """Raise if the named arrays do not all have the same length."""
    lengths = {name: array.shape[0] for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise DataValidationError(f"inputs must have the same length; got {lengths}.")


def check_weights(weights: Any, n_rows: int) -> np.ndarray:
    """Validate optional per-row weights (counts of identical customers).

    Args:
        weights: None (every row counts once) or non-negative finite numbers.
        n_rows: Number of data rows the weights must match.

    Returns:
        A float64 array of weights.

    Raises:
        DataValidationError: If the weights are negative, non-finite, of the
            wrong length or all zero.
    """
    if weights is None:
        return np.ones(n_rows)
    w = as_float_vector(weights, "weights")
    if w.shape[0] != n_rows:
        raise DataValidationError(
            f"weights: expected {n_rows} values (one per row), got {w.shape[0]}."
        )
    check_rows(w < 0, "weights is negative")
    if not np.any(w > 0):
        raise DataValidationError("weights: every weight is zero; nothing to fit.")
    return w


def check_summary(
    frequency: Any,
    recency: Any,
    T: Any,
    *,
    time_name: str = "T",
    integer_time: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a customer summary of (frequency, recency, T).

    Args:
        frequency: Number of repeat purchases (non-negative integers).
        recency: Time from the first to the last purchase.
        T: Time from the first purchase to the end of observation (>= 0).
        time_name: Name of the ``T`` argument in messages (``n_periods`` for
            the discrete-time model).
        integer_time: Whether recency and T must be whole numbers (BG/BB).

    Returns:
        The three arrays as float64.

    Raises:
        DataValidationError: Naming every kind of invalid row found first.
    """
    x = as_float_vector(frequency, "frequency")
    tx = as_float_vector(recency, "recency")
    t_end = as_float_vector(T, time_name)
    check_same_length(frequency=x, recency=tx, **{time_name: t_end})

    check_rows(x < 0, "frequency is negative")
    check_rows(x != np.round(x), "frequency is not a whole number")
    check_rows(tx < 0, "recency is negative")
    # T = 0 is legitimate: a customer whose first purchase falls on the last
    # observed day. They carry no information but must not break anything.
    check_rows(t_end < 0, f"{time_name} is negative")
    # A small tolerance: summaries in weeks are often rounded to 2 decimals.
    check_rows(tx > t_end * (1 + 1e-9), f"recency > {time_name}")
    check_rows(
        (x > 0) & (tx <= 0),
        "frequency > 0 but recency is 0 (a repeat purchase must come after the "
        "first one)",
    )
    check_rows(
        (x == 0) & (tx > 0),
        "frequency is 0 but recency is positive (recency is the time from the "
        "first to the last purchase, so it is 0 without repeat purchases)",
    )
    if integer_time:
        check_rows(tx != np.round(tx), "recency is not a whole number of periods")
        check_rows(
            t_end != np.round(t_end), f"{time_name} is not a whole number of periods"
        )
        check_rows(x > tx, "frequency > recency (at most one purchase per period)")
    return x, np.minimum(tx, t_end), t_end


def group_rows(columns: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Find the distinct rows of equal-length columns.

    Linear in the rows: each column is coded (whole numbers in a short range
    by offset, other values by hashing), the codes are combined into one
    integer key, and the key is renumbered, through a lookup table where the
    keys are few enough and by hashing where not. ``np.unique(axis=0)`` sorts
    whole rows and is ten times slower on a million of them.

    Args:
        columns: Equal-length one-dimensional arrays forming the rows.

    Returns:
        The position of the first row of each distinct row and, for every
        row, the number of its distinct row. Distinct rows are numbered in
        the order of their key (deterministic for given data), not of first
        appearance.
    """
    n_rows = len(columns[0])
    if n_rows == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # A lookup table of this many entries costs less than hashing the rows.
    table_limit = max(4 * n_rows, 1 << 16)
    key, n_keys = _column_codes(columns[0], table_limit)
    for column in columns[1:]:
        codes, n_levels = _column_codes(column, table_limit)
        if n_keys * n_levels > table_limit:
            key, n_keys = _renumber(key, n_keys, table_limit)
        # Renumbered keys may be 32-bit; the combined key needs 64.
        key = key.astype(np.int64, copy=False)
        key *= n_levels
        key += codes
        n_keys *= n_levels
    inverse, n_distinct = _renumber(key, n_keys, table_limit)
    first = np.empty(n_distinct, dtype=np.int64)
    # Assigning in reverse leaves each group's first position in place.
    first[inverse[::-1]] = np.arange(n_rows - 1, -1, -1)
    return first, inverse


def _column_codes(column: np.ndarray, table_limit: int) -> tuple[np.ndarray, int]:
    """Code one column as integers from 0, and the number of possible codes."""
    column = np.asarray(column)
    if column.dtype.kind in "iuf" and column.size:
        low, high = column.min(), column.max()
        # Python numbers: a range computed in the column's own integer type
        # can wrap around.
        if (
            np.isfinite(low)
            and np.isfinite(high)
            and -(2**62) < low <= high < 2**62
            and int(high) - int(low) < table_limit
        ):
            # Whole numbers in a short range (frequencies, day counts): the
            # offset from the smallest is a code, with no hashing.
            codes = _whole_number_codes(column, int(low))
            if codes is not None:
                return codes, int(high) - int(low) + 1
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    return codes.astype(np.int64, copy=False), max(len(uniques), 1)


def _whole_number_codes(column: np.ndarray, low: int) -> np.ndarray | None:
    """``column - low`` as integers, or None if the column has fractions."""
    if column.dtype.kind == "f":
        # A sample rules out most fractional columns before a full pass.
        sample = column[:: max(len(column) // 1024, 1)]
        if not np.array_equal(sample, np.trunc(sample)):
            return None
    codes = column.astype(np.int64)
    if column.dtype.kind == "f" and not np.array_equal(codes, column):
        return None
    codes -= low
    return codes


def _renumber(key: np.ndarray, n_keys: int, table_limit: int) -> tuple[np.ndarray, int]:
    """Renumber integer keys in ``[0, n_keys)`` as ``0 .. distinct - 1``.

    The numbers are 32-bit where they fit: a million rows' worth of fresh
    memory costs as much time as the arithmetic on it.
    """
    if n_keys <= table_limit:
        present = np.zeros(n_keys, dtype=bool)
        present[key] = True
        number = np.cumsum(present, dtype=np.int32 if n_keys < 2**31 else np.int64)
        number -= 1
        return number[key], int(number[-1]) + 1
    codes, uniques = pd.factorize(key)
    return codes, len(uniques)


def compress_rows(
    columns: Sequence[np.ndarray], weights: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """Collapse identical rows into unique rows with summed weights.

    The likelihood of the probabilistic models depends on a customer only
    through their summary, so fitting on unique rows gives the same optimum
    for a fraction of the work.

    Args:
        columns: Equal-length arrays forming the rows.
        weights: Weight of each row.

    Returns:
        The unique rows (in the order of :func:`group_rows`), one array per
        column, and their summed weights. Rows with zero total weight are dropped.
    """
    first, inverse = group_rows(columns)
    counts = np.bincount(inverse, weights=weights, minlength=first.size)
    keep = counts > 0
    logger.debug("Compressed %d rows to %d unique rows", inverse.size, keep.sum())
    return [np.asarray(column)[first[keep]] for column in columns], counts[keep]
