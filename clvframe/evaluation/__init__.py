"""Evaluation of CLV models on a time-based holdout: metrics, plots, reports."""

from clvframe.evaluation.metrics import HOLDOUT_METRIC_KEYS
from clvframe.evaluation.metrics import decile_table
from clvframe.evaluation.metrics import fit_metrics
from clvframe.evaluation.metrics import gain_curve
from clvframe.evaluation.metrics import holdout_metrics

__all__ = [
    "HOLDOUT_METRIC_KEYS",
    "decile_table",
    "fit_metrics",
    "gain_curve",
    "holdout_metrics",
]
