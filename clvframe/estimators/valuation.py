"""Turning expected purchases into CLV: margin and discounting, units explicit.

CLV over a horizon is the sum, over discount steps (a month by default), of
the purchases expected in that step times the expected spend per purchase
times the margin, discounted to today at the end of the step. The discount
rate is given per ``discount_period`` and converted to the step exactly:
``(1 + rate) ** (step_days / period_days) - 1``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from clvframe.data.units import DAYS_PER_YEAR
from clvframe.data.units import DEFAULT_MONTH_DAYS
from clvframe.data.units import unit_days
from clvframe.errors import ConfigError


@dataclass(frozen=True)
class Valuation:
    """How expected spend becomes CLV.

    Attributes:
        margin: Share of revenue that is profit (1 gives CLV as revenue).
        discount_rate: Discount rate per ``discount_period`` (0.10 = 10%).
        discount_period: Unit the rate is quoted in (day, week, month, year).
        discount_step: Cash flows are discounted at the end of each step of
            this length (month by default).
        month_days: Days in a month (365.25 / 12 by default).
    """

    margin: float = 1.0
    discount_rate: float = 0.10
    discount_period: str = "year"
    discount_step: str = "month"
    month_days: float = DEFAULT_MONTH_DAYS

    def check(self) -> Valuation:
        """Validate the settings, reporting every problem at once.

        Raises:
            ConfigError: A value is out of range or a unit is unknown.
        """
        problems = []
        if not (isinstance(self.margin, (int, float)) and 0 <= self.margin <= 1):
            problems.append(
                "margin: must be a share of revenue between 0 and 1; "
                f"got {self.margin!r}"
            )
        if not (
            isinstance(self.discount_rate, (int, float))
            and 0 <= self.discount_rate < math.inf
        ):
            problems.append(
                f"discount_rate: must be a number >= 0; got {self.discount_rate!r}"
            )
        for key in ("discount_period", "discount_step"):
            try:
                unit_days(getattr(self, key), month_days=self.month_days)
            except ConfigError as err:
                problems.append(f"{key}: {err}")
        if problems:
            raise ConfigError("valuation: " + "; ".join(problems) + ".")
        return self

    def step_rate(self) -> float:
        """Discount rate per step, converted from the rate per period."""
        step = unit_days(self.discount_step, month_days=self.month_days)
        period = unit_days(self.discount_period, month_days=self.month_days)
        return (1.0 + self.discount_rate) ** (step / period) - 1.0

    def schedule(self, horizon_days: float) -> tuple[np.ndarray, np.ndarray]:
        """Step ends (in days) over the horizon and their discount factors.

        The last step is shortened to end at the horizon; it is discounted by
        the fraction of a step it covers.
        """
        step = unit_days(self.discount_step, month_days=self.month_days)
        n_steps = max(1, math.ceil(horizon_days / step - 1e-9))
        ends = np.minimum(np.arange(1, n_steps + 1) * step, horizon_days)
        factors = (1.0 + self.step_rate()) ** (-(ends / step))
        return ends, factors


MAX_HORIZON_YEARS = 100


def check_horizon(horizon_days: float, given: object = None) -> None:
    """Refuse horizons that are not positive or longer than a century.

    Raises:
        ConfigError: Naming the horizon that was given.
    """
    if not 0 < horizon_days <= MAX_HORIZON_YEARS * DAYS_PER_YEAR:
        raise ConfigError(
            f"forecast.horizon: must be positive and at most {MAX_HORIZON_YEARS} "
            f"years; got {given if given is not None else horizon_days!r}."
        )


def discounted_value(
    cumulative_purchases: Callable[[float], np.ndarray],
    spend_per_purchase: np.ndarray,
    *,
    horizon_days: float,
    unit_length_days: float,
    valuation: Valuation,
) -> np.ndarray:
    """CLV per customer from a cumulative expected-purchases function.

    Args:
        cumulative_purchases: ``f(t)`` giving each customer's expected
            purchases in the next ``t`` model time units.
        spend_per_purchase: Expected spend of each purchase, per customer.
        horizon_days: The forecast horizon in days.
        unit_length_days: Length of the model's time unit in days.
        valuation: Margin and discounting.
    """
    ends, factors = valuation.schedule(horizon_days)
    previous = np.zeros_like(np.asarray(spend_per_purchase, dtype="float64"))
    value = np.zeros_like(previous)
    for end, factor in zip(ends, factors):
        current = cumulative_purchases(end / unit_length_days)
        value += (current - previous) * factor
        previous = current
    return value * spend_per_purchase * valuation.margin
