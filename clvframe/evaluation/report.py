"""A self-contained HTML report of one run: metrics, tables and figures.

The page embeds its figures as base64 PNG and its style inline, so it can be
mailed, logged as an MLflow artifact or opened offline as one file.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

FIGURE_DPI = 110

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif;
       margin: 2rem auto; max-width: 1100px; color: #1b1b1b; padding: 0 1rem; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #1f4e79; padding-bottom: .3rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; color: #1f4e79; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { padding: .25rem .7rem; border-bottom: 1px solid #ddd; }
th { background: #f2f5f9; text-align: left; }
td.num, table.frame td { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0 2rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9rem; color: #555; }
"""


def build_html_report(
    title: str,
    metrics: Mapping[str, float],
    tables: Mapping[str, pd.DataFrame],
    figures: Mapping[str, Figure],
) -> str:
    """Render one self-contained HTML page.

    Args:
        title: Page title and heading (escaped).
        metrics: Metric name to value, shown as a two-column table in the
            given order; non-finite values are shown as ``n/a``.
        tables: Section heading to frame, each rendered with
            :meth:`pandas.DataFrame.to_html` (cells escaped, floats formatted
            by :func:`format_number`).
        figures: Caption to figure, each embedded as a base64 PNG.

    Returns:
        The HTML document as a string.
    """
    sections = [
        _metrics_section(metrics),
        *(_table_section(name, frame) for name, frame in tables.items()),
        *(_figure_section(name, figure) for name, figure in figures.items()),
    ]
    escaped_title = html.escape(title)
    body = "\n".join(sections)

    logger.debug(
        "Built report %r: %d metrics, %d tables, %d figures",
        title,
        len(metrics),
        len(tables),
        len(figures),
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escaped_title}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n<h1>{escaped_title}</h1>\n{body}\n</body>\n</html>\n"
    )


def format_number(value: float) -> str:
    """Format a number for reading: thousands separators, four significant digits.

    Integers print whole (``12,345``); other values with four significant
    digits (``0.1235``, ``1,234.6``); NaN and infinities as ``n/a``.
    """
    number = float(value)
    if not math.isfinite(number):
        return "n/a"
    if number.is_integer() and abs(number) < 1e15:
        return f"{number:,.0f}"
    if abs(number) >= 1000:
        return f"{number:,.1f}"
    return f"{number:.4g}"


def _metrics_section(metrics: Mapping[str, float]) -> str:
    if not metrics:
        return "<h2>Metrics</h2>\n<p>No metrics were recorded.</p>"
    rows = "\n".join(
        f'<tr><th scope="row">{html.escape(str(name))}</th>'
        f'<td class="num">{format_number(value)}</td></tr>'
        for name, value in metrics.items()
    )
    return (
        "<h2>Metrics</h2>\n<table>\n<thead><tr><th>metric</th><th>value</th></tr>"
        f"</thead>\n<tbody>\n{rows}\n</tbody>\n</table>"
    )


def _table_section(name: str, frame: pd.DataFrame) -> str:
    rendered = frame.to_html(
        float_format=format_number, na_rep="", border=0, classes="frame", escape=True
    )
    return f"<h2>{html.escape(name)}</h2>\n{rendered}"


def _figure_section(name: str, figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    caption = html.escape(name)
    return (
        f"<h2>{caption}</h2>\n<figure>"
        f'<img src="data:image/png;base64,{encoded}" alt="{caption}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )
