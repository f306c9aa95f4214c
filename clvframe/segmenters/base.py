"""The segmenter contract and the per-segment summary table."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from clvframe._component import Component


class Segmenter(Component):
    """Base class of segmenters: label each customer from forecast and summary.

    A segmenter's constructor arguments are its config keys (``segmenter.*``
    less ``name``).
    """

    params_key: ClassVar[str] = "segmenter.params"

    def assign(self, customers: pd.DataFrame) -> pd.Series:
        """Label every customer.

        Args:
            customers: One row per customer (index customer_id) with the
                summary columns and the forecast columns (``clv``,
                ``expected_purchases``, ``p_alive``, ``historic_clv``, ...).

        Returns:
            An ordered categorical Series, index aligned with ``customers``;
            the category order is the order of the segment table.
        """
        raise NotImplementedError


def segment_table(customers: pd.DataFrame, segments: pd.Series) -> pd.DataFrame:
    """Customers, share, historic and predicted CLV and mean P(alive) per segment.

    Args:
        customers: One row per customer with ``clv`` and, where known,
            ``historic_clv`` and ``p_alive``.
        segments: The label of each customer (categorical keeps its order).

    Returns:
        One row per segment (empty segments included, with zeros).
    """
    frame = customers.assign(segment=segments.reindex(customers.index))
    grouped = frame.groupby("segment", observed=False, sort=True)
    total_clv = float(frame["clv"].sum())
    table = pd.DataFrame(
        {
            "customers": grouped.size(),
            "share_of_customers": grouped.size() / max(len(frame), 1),
            "total_clv": grouped["clv"].sum(),
            "mean_clv": grouped["clv"].mean(),
            "share_of_value": grouped["clv"].sum() / total_clv if total_clv else np.nan,
        }
    )
    if "historic_clv" in frame:
        table["total_historic_clv"] = grouped["historic_clv"].sum()
        table["mean_historic_clv"] = grouped["historic_clv"].mean()
    if "p_alive" in frame and frame["p_alive"].notna().any():
        table["mean_p_alive"] = grouped["p_alive"].mean()
    table.index.name = "segment"
    return table.fillna({"mean_clv": 0.0, "mean_historic_clv": 0.0})
