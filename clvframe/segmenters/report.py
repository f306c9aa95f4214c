"""The segment summary as a chart: who the customers are and what they are worth."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from clvframe.errors import DataValidationError

HISTORIC_COLOR = "#1f4e79"
PREDICTED_COLOR = "#d9822b"
CUSTOMERS_COLOR = "#8c8c8c"

logger = logging.getLogger(__name__)


def plot_segment_table(table: pd.DataFrame, currency: str = "currency units") -> Figure:
    """Two panels per segment: shares of customers and of value; mean CLV.

    The left panel sets each segment's share of customers beside its share of
    predicted value; the right one its mean historic CLV (spend to date, with
    margin) beside its mean predicted CLV over the horizon.

    Args:
        table: Output of :func:`clvframe.segmenters.base.segment_table`.
        currency: Label of the money axis.

    Raises:
        DataValidationError: The table lacks the columns the chart needs.
    """
    needed = ["share_of_customers", "share_of_value", "mean_clv"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise DataValidationError(
            f"segment chart: the table lacks {missing}; pass the output of "
            "clvframe.segmenters.base.segment_table."
        )
    labels = [str(s) for s in table.index]
    y = np.arange(len(labels))
    height = 0.38
    figure = Figure(
        figsize=(11, max(3.0, 0.45 * len(labels) + 1.5)), layout="constrained"
    )
    shares, values = figure.subplots(1, 2, sharey=True)

    shares.barh(
        y - height / 2,
        table["share_of_customers"] * 100,
        height,
        color=CUSTOMERS_COLOR,
        label="share of customers",
    )
    shares.barh(
        y + height / 2,
        table["share_of_value"].fillna(0) * 100,
        height,
        color=PREDICTED_COLOR,
        label="share of predicted CLV",
    )
    shares.set_xlabel("% of all customers / of total predicted CLV")
    shares.set_yticks(y, labels)
    shares.invert_yaxis()
    shares.legend(loc="lower right", fontsize="small")

    if "mean_historic_clv" in table.columns:
        values.barh(
            y - height / 2,
            table["mean_historic_clv"],
            height,
            color=HISTORIC_COLOR,
            label="mean historic CLV (to date)",
        )
    values.barh(
        y + height / 2,
        table["mean_clv"],
        height,
        color=PREDICTED_COLOR,
        label="mean predicted CLV (horizon)",
    )
    values.set_xlabel(f"CLV per customer ({currency})")
    values.legend(loc="lower right", fontsize="small")

    shares.grid(axis="x", alpha=0.3)
    values.grid(axis="x", alpha=0.3)
    figure.suptitle("Segments: customers, value to date and predicted value")
    return figure
