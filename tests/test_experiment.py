"""End-to-end runs: the default experiment on CDNOW into a temporary MLflow store."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clvframe.config.compose import compose_config
from clvframe.errors import ConfigError
from clvframe.experiment import run_experiment

ISSUE_METRICS = (
    "holdout_purchases_mae",
    "holdout_spend_mae",
    "holdout_spend_rmse",
    "holdout_spend_spearman",
    "holdout_revenue_error",
    "holdout_top_decile_lift",
)


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    store = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    cwd = os.getcwd()
    os.chdir(store)  # MLflow writes ./mlruns for artifacts of a SQLite store
    try:
        result = run_experiment([f"tracking.tracking_uri={uri}"])
    finally:
        os.chdir(cwd)
    return result, uri


@pytest.mark.slow
def test_default_run_on_cdnow_is_tracked(tracked_run):
    import mlflow

    result, uri = tracked_run
    assert result.info["customers"] == 23_570
    assert result.info["rows"] == 69_659
    assert result.info["holdout_new_customers"] == 0
    client = mlflow.MlflowClient(uri)
    run = client.get_run(result.run_id)
    for name in ISSUE_METRICS:
        assert name in run.data.metrics
    assert run.data.params["forecast.horizon"] == "52.0"
    assert run.data.params["estimator.name"] == "bgnbd"
    assert (
        run.data.tags["clvframe.plugin.clvframe.estimators.probabilistic"] == "built-in"
    )
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {
        "predictions.csv",
        "segments.csv",
        "config.yaml",
        "report.html",
    } <= artifacts
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert "plots/holdout_tracking.png" in plots
    state = json.loads(
        Path(
            client.download_artifacts(result.run_id, "estimator_state.json")
        ).read_text()
    )
    assert set(state["params"]) == {"r", "alpha", "a", "b"}


@pytest.mark.slow
def test_tier_table_covers_every_customer(tracked_run):
    result, _ = tracked_run
    table = result.segment_table
    assert table["customers"].sum() == 23_570
    assert table["share_of_value"].sum() == pytest.approx(1.0)
    # 1% of 23,570 is 235.7: the top tier holds those with fewer than that above.
    assert table["customers"].iloc[0] == 236


def test_historic_run_without_tracking_matches_a_hand_formula():
    result = run_experiment(
        ["estimator=historic", "forecast.discount_rate=0"], track=False
    )
    customers = result.customers
    row = customers[customers["frequency"] > 0].iloc[0]
    expected = row["frequency"] / row["T"] * 52 * row["monetary_value"]
    assert row["clv"] == pytest.approx(expected)
    assert (customers["historic_clv"] == customers["total_spend"]).all()


def test_config_errors_are_reported_together():
    cfg = compose_config(
        ["forecast.horizon=-1", "forecast.margin=-2", "data.grain=week"]
    )
    with pytest.raises(
        ConfigError, match=r"3 problems(.|\n)*grain(.|\n)*horizon(.|\n)*margin"
    ):
        run_experiment(cfg, track=False)


def test_unknown_estimator_name_lists_the_registered_ones():
    cfg = compose_config(["estimator.name=bgnb"])
    with pytest.raises(
        ConfigError, match=r"estimator.name: 'bgnb' is not registered.*'historic'"
    ):
        run_experiment(cfg, track=False)


def _clvframe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "COLUMNS": "120"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "clvframe.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_cli_multirun_logs_one_run_per_estimator(tmp_path):
    import mlflow

    done = _clvframe("run", "-m", "estimator=historic,bgnbd", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").search_runs(
        experiment_ids=["1"]
    )
    assert sorted(r.data.params["estimator.name"] for r in runs) == [
        "bgnbd",
        "historic",
    ]


def test_cli_run_reports_a_bad_value_without_a_traceback(tmp_path):
    done = _clvframe(
        "run", "forecast.horizon=-5", "tracking.enabled=false", cwd=tmp_path
    )
    assert done.returncode == 2
    assert "forecast.horizon: must be > 0; got -5" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_cli_plugins_lists_origins(tmp_path):
    done = _clvframe("plugins", cwd=tmp_path)
    assert done.returncode == 0
    assert "bgnbd" in done.stdout and "built-in" in done.stdout


def test_each_loader_brings_its_own_split():
    assert compose_config([]).split.calibration_end == "1997-09-30"
    assert compose_config(["loader=synthetic"]).split.calibration_end == "2020-09-30"
    csv = compose_config(["loader=csv", "loader.params.path=x.csv"])
    assert csv.split.calibration_end is None
    chosen = compose_config(["loader=csv", "split.calibration_end=2024-06-30"])
    assert chosen.split.calibration_end == "2024-06-30"


def test_non_finite_forecast_is_an_identification_error():
    import pandas as pd

    from clvframe.errors import IdentificationError
    from clvframe.estimators.probabilistic import BetaGeoEstimator
    from clvframe.experiment import check_finite_forecast

    estimator = BetaGeoEstimator()
    estimator.params_ = {"r": 0.36, "alpha": 3.6, "a": 1.7e4, "b": 5.7e-5}
    forecast = pd.DataFrame(
        {"expected_purchases": [0.5, float("nan")], "clv": [10.0, float("inf")]},
        index=["ok", "R1"],
    )
    with pytest.raises(IdentificationError, match=r"not finite for 1 customers .*'R1'"):
        check_finite_forecast(forecast, estimator)
