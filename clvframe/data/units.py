"""Time units: how many days each unit holds, and conversions between them.

Units scale durations; they never change what is counted. A month is
``month_days`` days (365.25 / 12 by default), stated wherever months are used.
"""

from __future__ import annotations

from clvframe.errors import ConfigError

DAYS_PER_YEAR = 365.25
DEFAULT_MONTH_DAYS = DAYS_PER_YEAR / 12
_FIXED_UNITS = {"day": 1.0, "week": 7.0, "year": DAYS_PER_YEAR}
SUPPORTED_UNITS = ("day", "week", "month", "year")


def unit_days(unit: str, *, month_days: float = DEFAULT_MONTH_DAYS) -> float:
    """Length of one ``unit`` in days.

    Raises:
        ConfigError: The unit is not supported.
    """
    key = unit.lower().rstrip("s") if isinstance(unit, str) else unit
    if key == "month":
        if not month_days or month_days <= 0:
            raise ConfigError(
                f"month_days must be a positive number; got {month_days!r}."
            )
        return float(month_days)
    try:
        return _FIXED_UNITS[key]
    except (KeyError, TypeError):
        raise ConfigError(
            f"time unit {unit!r} is not supported; use one of {list(SUPPORTED_UNITS)} "
            "(a month is month_days days, 365.25/12 by default)."
        ) from None


def convert(
    value: float,
    from_unit: str,
    to_unit: str,
    *,
    month_days: float = DEFAULT_MONTH_DAYS,
) -> float:
    """Convert a duration from one unit to another."""
    return (
        value
        * unit_days(from_unit, month_days=month_days)
        / unit_days(to_unit, month_days=month_days)
    )
