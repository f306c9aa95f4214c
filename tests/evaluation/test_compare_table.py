"""Tests of ranking and rendering a comparison table, without MLflow."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from clvframe.errors import ConfigError
from clvframe.evaluation.compare import METRIC_DIRECTION
from clvframe.evaluation.compare import best_per_column
from clvframe.evaluation.compare import format_table
from clvframe.evaluation.compare import metric_direction
from clvframe.evaluation.metrics import HOLDOUT_METRIC_KEYS


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_name": ["bgnbd", "pareto|nbd", "historic"],
            "estimator.params.penalizer": ["0.1", "0.0", None],
            "holdout_spend_mae": [3.0, 2.0, 4.0],
            "holdout_gini": [0.5, 0.7, math.nan],
            "holdout_spend_bias": [0.3, -0.2, 0.25],
            "fit_bic": [1001.25, 990.0, math.nan],
        },
        index=pd.Index(["aaaa1111", "bbbb2222", "cccc3333"], name="run_id"),
    )


def test_every_holdout_metric_and_fit_metric_has_a_direction() -> None:
    keys = [*HOLDOUT_METRIC_KEYS, "fit_log_likelihood", "fit_aic", "fit_bic"]
    assert sorted(METRIC_DIRECTION) == sorted(keys)


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("holdout_spend_mae", "lower"),
        ("holdout_revenue_error", "zero"),
        ("holdout_churn_auc", "higher"),
        ("fit_log_likelihood", "higher"),
        ("holdout_clv_rmse", "lower"),
        ("holdout_clv_bias", "zero"),
        ("holdout_top5_revenue_share", "higher"),
        ("n_customers", None),
    ],
)
def test_metric_direction(metric: str, direction: str | None) -> None:
    assert metric_direction(metric) == direction


def test_best_per_column_follows_each_direction(table: pd.DataFrame) -> None:
    assert best_per_column(table) == {
        "holdout_spend_mae": "bbbb2222",
        "holdout_gini": "bbbb2222",
        # |-0.2| beats 0.25 and 0.3
        "holdout_spend_bias": "bbbb2222",
        "fit_bic": "bbbb2222",
    }
    first_wins = pd.DataFrame({"holdout_gini": [0.6, 0.6]}, index=["x", "y"])
    assert best_per_column(first_wins) == {"holdout_gini": "x"}


def test_format_table_markdown_marks_the_best_values(table: pd.DataFrame) -> None:
    text = format_table(table.iloc[[0, 2]])

    lines = text.splitlines()
    assert lines[0] == (
        "| run_id | run_name | estimator.params.penalizer | holdout_spend_mae "
        "| holdout_gini | holdout_spend_bias | fit_bic |"
    )
    assert lines[1] == "| --- | --- | --- | ---: | ---: | ---: | ---: |"
    assert lines[2] == "| aaaa1111 | bgnbd | 0.1 | **3** | **0.5** | 0.3 | **1001** |"
    assert lines[3] == "| cccc3333 | historic |  | 4 |  | **0.25** |  |"
    assert len(lines) == 4


def test_format_table_markdown_escapes_pipes(table: pd.DataFrame) -> None:
    assert "| pareto\\|nbd |" in format_table(table)


def test_format_table_csv_keeps_full_precision(table: pd.DataFrame) -> None:
    lines = format_table(table, fmt="csv").splitlines()
    assert lines[0] == (
        "run_id,run_name,estimator.params.penalizer,holdout_spend_mae,"
        "holdout_gini,holdout_spend_bias,fit_bic"
    )
    assert lines[1] == "aaaa1111,bgnbd,0.1,3.0,0.5,0.3,1001.25"
    assert "*" not in format_table(table, fmt="csv")


def test_format_table_rejects_an_unknown_format(table: pd.DataFrame) -> None:
    with pytest.raises(
        ConfigError, match="fmt must be 'markdown' or 'csv'; got 'html'"
    ):
        format_table(table, fmt="html")  # type: ignore[arg-type]
