import numpy as np
import pandas as pd
import pytest

from clvframe.errors import DataValidationError
from clvframe.segmenters.base import segment_table
from clvframe.segmenters.report import plot_segment_table


def test_segment_chart_draws_the_table_values():
    customers = pd.DataFrame(
        {
            "clv": [10.0, 30.0, 60.0],
            "historic_clv": [5.0, 7.0, 100.0],
            "p_alive": [0.5, 0.9, 1.0],
        },
        index=["a", "b", "c"],
    )
    labels = pd.Categorical(["low", "low", "high"], categories=["high", "low"])
    segments = pd.Series(labels, index=customers.index)
    table = segment_table(customers, segments)
    figure = plot_segment_table(table)
    shares, values = figure.axes
    widths = [p.get_width() for p in shares.patches]
    # Customers: high 1/3, low 2/3; value: high 60/100, low 40/100 (percent).
    np.testing.assert_allclose(widths, [100 / 3, 200 / 3, 60.0, 40.0])
    widths = [p.get_width() for p in values.patches]
    # Mean historic: high 100, low 6; mean predicted: high 60, low 20.
    np.testing.assert_allclose(widths, [100.0, 6.0, 60.0, 20.0])
    assert [t.get_text() for t in shares.get_yticklabels()] == ["high", "low"]


def test_segment_chart_needs_a_segment_table():
    with pytest.raises(DataValidationError, match=r"lacks \['share_of_value'"):
        plot_segment_table(pd.DataFrame({"share_of_customers": [1.0]}))
