"""Tests of compare_runs against a real, temporary MLflow SQLite store.

This is the only evaluation test module that imports mlflow (about 3 s).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from clvframe.errors import ClvframeError
from clvframe.errors import ConfigError
from clvframe.evaluation.compare import compare_runs
from clvframe.evaluation.compare import format_table

pytestmark = pytest.mark.slow

RUNS = {
    "bgnbd": {
        "params": {"estimator.params.penalizer": "0.0", "forecast.horizon": "52"},
        "metrics": {
            "holdout_spend_mae": 3.0,
            "holdout_gini": 0.5,
            "holdout_revenue_error": -0.05,
            "fit_bic": 1000.0,
        },
    },
    "pareto": {
        "params": {"estimator.params.penalizer": "0.1", "forecast.horizon": "52"},
        "metrics": {
            "holdout_spend_mae": 2.0,
            "holdout_gini": 0.7,
            "holdout_revenue_error": 0.2,
            "fit_bic": 990.0,
        },
    },
    "historic": {
        "params": {"forecast.horizon": "26"},
        "metrics": {
            "holdout_spend_mae": 4.0,
            "holdout_gini": 0.6,
            "holdout_revenue_error": 0.1,
        },
    },
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        import mlflow

        root: Path = tmp_path_factory.mktemp("mlflow")
        uri = f"sqlite:///{root}/mlflow.db"
        client = mlflow.MlflowClient(tracking_uri=uri)
        artifacts = (root / "artifacts").as_uri()
        experiment_id = client.create_experiment(
            "clvframe", artifact_location=artifacts
        )
        client.create_experiment("empty", artifact_location=artifacts)
        for name, run in RUNS.items():
            run_id = client.create_run(experiment_id, run_name=name).info.run_id
            client.log_param(run_id, "estimator.name", name)
            client.log_param(run_id, "data.month_days", "30.4375")
            for key, value in run["params"].items():
                client.log_param(run_id, key, value)
            for key, value in run["metrics"].items():
                # an earlier step with another value: the latest one counts
                client.log_metric(run_id, key, value + 100.0, step=0)
                client.log_metric(run_id, key, value, step=1)
            client.set_terminated(run_id)
        yield uri


def test_compare_runs_sorts_best_first_by_default(store: str) -> None:
    table = compare_runs(tracking_uri=store)

    assert table["run_name"].tolist() == ["pareto", "bgnbd", "historic"]
    assert table.index.name == "run_id"
    assert all(len(run_id) == 8 for run_id in table.index)
    assert list(table.columns) == [
        "run_name",
        "status",
        "estimator",
        "estimator.params.penalizer",
        "forecast.horizon",
        "holdout_spend_mae",
        "holdout_revenue_error",
        "holdout_gini",
        "fit_bic",
    ]
    assert table["estimator"].tolist() == ["pareto", "bgnbd", "historic"]
    assert table["forecast.horizon"].tolist() == ["52", "52", "26"]
    assert table["holdout_spend_mae"].tolist() == [2.0, 3.0, 4.0]
    assert set(table["status"]) == {"FINISHED"}


@pytest.mark.parametrize(
    ("sort_by", "ascending", "order"),
    [
        ("holdout_gini", None, ["pareto", "historic", "bgnbd"]),
        # closest to zero first: |-0.05| < 0.1 < 0.2
        ("holdout_revenue_error", None, ["bgnbd", "historic", "pareto"]),
        ("holdout_revenue_error", True, ["bgnbd", "historic", "pareto"]),
        ("holdout_revenue_error", False, ["pareto", "historic", "bgnbd"]),
        # historic has no BIC: it comes last whatever the direction
        ("fit_bic", None, ["pareto", "bgnbd", "historic"]),
        ("fit_bic", False, ["bgnbd", "pareto", "historic"]),
        ("holdout_spend_mae", False, ["historic", "bgnbd", "pareto"]),
    ],
)
def test_compare_runs_sort_order(
    store: str, sort_by: str, ascending: bool | None, order: list[str]
) -> None:
    table = compare_runs(tracking_uri=store, sort_by=sort_by, ascending=ascending)
    assert table["run_name"].tolist() == order


def test_compare_runs_shows_the_chosen_metrics_and_the_sort_metric(store: str) -> None:
    table = compare_runs(
        tracking_uri=store, sort_by="holdout_gini", metrics=["fit_bic"]
    )
    assert list(table.columns[-2:]) == ["holdout_gini", "fit_bic"]
    assert math.isnan(table.loc[table["run_name"] == "historic", "fit_bic"].item())


def test_compare_runs_leaves_the_global_tracking_uri_alone(store: str) -> None:
    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI")
    compare_runs(tracking_uri=store)
    assert mlflow.get_tracking_uri() != store
    assert os.environ.get("MLFLOW_TRACKING_URI") == before


def test_compare_runs_markdown_and_csv(store: str) -> None:
    table = compare_runs(tracking_uri=store)

    markdown = format_table(table).splitlines()
    csv = format_table(table, fmt="csv").splitlines()

    assert markdown[2].startswith(f"| {table.index[0]} | pareto | FINISHED | pareto |")
    assert markdown[2].endswith("| **2** | 0.2 | **0.7** | **990** |")
    assert markdown[3].endswith("| 3 | **-0.05** | 0.5 | 1000 |")
    assert csv[0].startswith("run_id,run_name,status,estimator,")
    assert csv[1] == f"{table.index[0]},pareto,FINISHED,pareto,0.1,52,2.0,0.2,0.7,990.0"


def test_compare_runs_lists_metrics_for_an_unknown_sort_metric(store: str) -> None:
    with pytest.raises(
        ConfigError,
        match=r"sort_by='holdout_mae' was not logged.*"
        r"\['fit_bic', 'holdout_gini', 'holdout_revenue_error', 'holdout_spend_mae'\]",
    ):
        compare_runs(tracking_uri=store, sort_by="holdout_mae")


def test_compare_runs_rejects_unknown_metrics(store: str) -> None:
    with pytest.raises(
        ConfigError, match=r"metrics \['holdout_lift'\] were not logged"
    ):
        compare_runs(tracking_uri=store, metrics=["holdout_gini", "holdout_lift"])


def test_compare_runs_names_a_missing_experiment(store: str) -> None:
    with pytest.raises(
        ClvframeError, match=r"no experiment named 'nope'.*\['Default', 'clvframe'"
    ):
        compare_runs("nope", tracking_uri=store)


def test_compare_runs_rejects_an_empty_experiment(store: str) -> None:
    with pytest.raises(ClvframeError, match="experiment 'empty' has no runs yet"):
        compare_runs("empty", tracking_uri=store)
