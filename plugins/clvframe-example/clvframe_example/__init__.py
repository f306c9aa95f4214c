"""Example clvframe plugin: a segmenter by cumulative share of predicted value."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from clvframe.errors import ConfigError
from clvframe.hooks import hookimpl
from clvframe.segmenters.base import Segmenter

__version__ = "0.1.0"


class ValueShareSegmenter(Segmenter):
    """Customers by the cumulative share of value they hold, highest first.

    With ``shares=(0.5, 0.8)``: the fewest customers who together hold half of
    the predicted value, those holding the next 30%, and the rest. Customers
    with equal values always share a segment (the block goes to the higher one).

    Args:
        shares: Increasing cumulative value shares, each in (0, 1).
        column: The value to rank on.
    """

    name = "value_share"

    def __init__(
        self, shares: Sequence[float] = (0.5, 0.8), column: str = "clv"
    ) -> None:
        self.shares = shares
        self.column = column

    def labels(self) -> list[str]:
        """Segment names, highest value first."""
        bounds = [0.0, *self.shares, 1.0]
        return [f"value {lo:.0%}-{hi:.0%}" for lo, hi in zip(bounds, bounds[1:])]

    def assign(self, customers: pd.DataFrame) -> pd.Series:
        """Label each customer."""
        shares = [float(s) for s in self.shares]
        if (
            not shares
            or sorted(set(shares)) != shares
            or not 0 < min(shares) <= max(shares) < 1
        ):
            raise ConfigError(
                f"segmenter.params.shares: must increase within (0, 1); got {shares!r}."
            )
        values = customers[self.column].to_numpy(dtype="float64")
        total = values.sum()
        ordered = np.sort(values)[::-1]
        # Value held by everyone strictly above each customer's value.
        cumulative = np.concatenate([[0.0], np.cumsum(ordered)])
        above = len(values) - np.searchsorted(np.sort(values), values, side="right")
        held_above = cumulative[above] / total if total > 0 else np.zeros(len(values))
        codes = np.searchsorted(np.asarray(shares), held_above, side="right")
        return pd.Series(
            pd.Categorical.from_codes(codes, categories=self.labels(), ordered=True),
            index=customers.index,
            name="segment",
        )


@hookimpl
def clvframe_config_dirs() -> list[str]:
    """Ship ``segmenter/value_share.yaml``, so ``segmenter=value_share`` works."""
    return [str(Path(__file__).resolve().parent / "conf")]


@hookimpl
def clvframe_register_segmenters() -> list[type[Segmenter]]:
    """Offer the value-share segmenter."""
    return [ValueShareSegmenter]
