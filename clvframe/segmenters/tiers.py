"""Built-in ``tiers`` segmenter: disjoint value tiers by predicted CLV."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from clvframe.errors import ConfigError
from clvframe.errors import DataValidationError
from clvframe.errors import DataWarning
from clvframe.hooks import hookimpl
from clvframe.segmenters.base import Segmenter


def _percent(share: float) -> str:
    return f"{share * 100:g}%"


class ValueTiers(Segmenter):
    """Value tiers: the top 1%, the next 4% (to 5%), 5% (to 10%), 15% (to 25%), rest.

    A customer belongs to the top share ``p`` when fewer than ``p`` of all
    customers have a strictly higher value, so a block of identical values at
    a cut goes wholly to the higher tier, and row order never matters.

    Args:
        cut_points: Cumulative top shares, increasing, each in (0, 1).
        column: The value to rank on (``clv`` by default).
    """

    name = "tiers"

    def __init__(
        self,
        cut_points: Sequence[float] = (0.01, 0.05, 0.10, 0.25),
        column: str = "clv",
    ) -> None:
        self.cut_points = cut_points
        self.column = column

    def labels(self) -> list[str]:
        """Tier names, highest first."""
        cuts = self._checked_cuts()
        names = [f"top {_percent(cuts[0])}"]
        names += [
            f"top {_percent(lo)}-{_percent(hi)}" for lo, hi in zip(cuts, cuts[1:])
        ]
        return [*names, f"rest (bottom {_percent(1 - cuts[-1])})"]

    def _checked_cuts(self) -> list[float]:
        cuts = [float(c) for c in self.cut_points]
        if not cuts or any(not 0 < c < 1 for c in cuts) or sorted(set(cuts)) != cuts:
            raise ConfigError(
                "segmenter.cut_points: must be increasing shares strictly between 0 "
                f"and 1, e.g. [0.01, 0.05, 0.1, 0.25]; got {list(self.cut_points)!r}."
            )
        return cuts

    def assign(self, customers: pd.DataFrame) -> pd.Series:
        """Label each customer with its tier."""
        cuts = self._checked_cuts()
        if self.column not in customers:
            raise DataValidationError(
                f"segmenter.column: {self.column!r} is not a column of the forecast; "
                f"have {list(customers.columns)}."
            )
        values = customers[self.column].to_numpy(dtype="float64")
        if np.isnan(values).any():
            first = customers.index[np.isnan(values)][0]
            raise DataValidationError(
                f"tiers: {int(np.isnan(values).sum())} customers have no "
                f"{self.column} value (first: {first!r})."
            )
        # Customers with a strictly higher value, for every customer.
        ordered = np.sort(values)
        above = len(values) - np.searchsorted(ordered, values, side="right")
        shares_above = above / max(len(values), 1)
        tier = np.searchsorted(np.asarray(cuts), shares_above, side="right")
        labels = self.labels()
        self._warn_about_ties(values, tier, cuts, labels)
        return pd.Series(
            pd.Categorical.from_codes(tier, categories=labels, ordered=True),
            index=customers.index,
            name="tier",
        )

    @staticmethod
    def _warn_about_ties(
        values: np.ndarray, tier: np.ndarray, cuts: list[float], labels: list[str]
    ) -> None:
        """Say so when a block of equal values makes a tier far larger than named."""
        n = len(values)
        if n == 0:
            return
        nominal = np.diff([0.0, *cuts, 1.0])
        sizes = np.bincount(tier, minlength=len(labels)) / n
        for k in np.flatnonzero(sizes > nominal + max(0.05, 0.5 * nominal.min())):
            tied = values[tier == k]
            value, count = np.unique(tied, return_counts=True)
            top = int(np.argmax(count))
            warnings.warn(
                f"tiers: {labels[k]!r} holds {sizes[k]:.1%} of customers, not "
                f"{nominal[k]:.1%}, because {int(count[top]):,} customers share the "
                f"value {value[top]:g} across a cut; a tied block goes wholly to "
                "the higher tier.",
                DataWarning,
                stacklevel=3,
            )

    def cut_values(self, customers: pd.DataFrame) -> dict[str, float]:
        """Lowest value in each tier but the last (for plots)."""
        tiers = self.assign(customers)
        lowest = customers[self.column].groupby(tiers, observed=True).min()
        return {str(k): float(v) for k, v in lowest.items() if k != self.labels()[-1]}


@hookimpl
def clvframe_register_segmenters() -> list[type[Segmenter]]:
    """Register the tiers segmenter."""
    return [ValueTiers]
