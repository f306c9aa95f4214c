"""Evaluation of CLV models on a time-based holdout: metrics, reports, comparison.

The plots live in :mod:`clvframe.evaluation.plots`, which is not imported here
so that importing the metrics does not load matplotlib.
"""

from clvframe.evaluation.compare import METRIC_DIRECTION
from clvframe.evaluation.compare import best_per_column
from clvframe.evaluation.compare import compare_runs
from clvframe.evaluation.compare import format_table
from clvframe.evaluation.compare import metric_direction
from clvframe.evaluation.metrics import HOLDOUT_METRIC_KEYS
from clvframe.evaluation.metrics import decile_table
from clvframe.evaluation.metrics import fit_metrics
from clvframe.evaluation.metrics import gain_curve
from clvframe.evaluation.metrics import holdout_metrics
from clvframe.evaluation.report import build_html_report

__all__ = [
    "HOLDOUT_METRIC_KEYS",
    "METRIC_DIRECTION",
    "best_per_column",
    "build_html_report",
    "compare_runs",
    "decile_table",
    "fit_metrics",
    "format_table",
    "gain_curve",
    "holdout_metrics",
    "metric_direction",
]
