"""Tests of the self-contained HTML report."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest
from matplotlib.figure import Figure

from clvframe.evaluation.report import build_html_report
from clvframe.evaluation.report import format_number


def _figure() -> Figure:
    figure = Figure(figsize=(2, 2))
    ax = figure.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_title("line")
    return figure


def test_build_html_report_holds_metrics_tables_and_images() -> None:
    metrics = {
        "holdout_spend_mae": 12.3456,
        "holdout_gini": 0.4,
        "fit_bic": float("nan"),
    }
    table = pd.DataFrame(
        {"customers": [10, 12], "mean_actual_spend": [1234.5678, 0.12345]},
        index=pd.Index([1, 2], name="decile"),
    )

    page = build_html_report(
        "Run <b>&</b> co",
        metrics,
        {"Holdout deciles": table},
        {"Gain curve": _figure()},
    )

    assert page.startswith("<!DOCTYPE html>")
    for name in metrics:
        assert f">{name}</th>" in page
    assert "<th>customers</th>" in page
    assert "<th>mean_actual_spend</th>" in page
    assert "<h2>Holdout deciles</h2>" in page
    # four significant digits, thousands separated; NaN shown as n/a
    assert ">12.35</td>" in page
    assert "1,234.6" in page
    assert "0.1235" in page
    assert ">n/a</td>" in page
    assert "<title>Run &lt;b&gt;&amp;&lt;/b&gt; co</title>" in page
    assert "<b>&</b>" not in page
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 1
    assert base64.b64decode(images[0]).startswith(b"\x89PNG")


def test_build_html_report_escapes_table_cells() -> None:
    table = pd.DataFrame({"segment": ["<script>x</script>"]})
    page = build_html_report("t", {}, {"segments": table}, {})
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "No metrics were recorded." in page


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (12345.0, "12,345"),
        (-3.0, "-3"),
        (1234.5678, "1,234.6"),
        (0.000123456, "0.0001235"),
        (0.5, "0.5"),
        (float("inf"), "n/a"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text
