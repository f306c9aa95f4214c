"""Estimators' own artifacts (``artifacts(data)``) in the MLflow run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from clvframe.config.compose import compose_config
from clvframe.errors import PluginContractError
from clvframe.experiment import run_experiment
from clvframe.tracking.mlflow import _write_estimator_artifacts


def small_log(n_customers: int = 600, seed: int = 0) -> pd.DataFrame:
    """Customers buying weekly-ish over 60 weeks; the app channel spends double."""
    rng = np.random.default_rng(seed)
    per_customer = rng.poisson(8, n_customers) + 1
    owner = np.repeat(np.arange(n_customers), per_customer)
    first = rng.uniform(0, 28, n_customers)
    day = first[owner] + rng.uniform(0, 420, len(owner))
    starts = np.r_[0, np.cumsum(per_customer)[:-1]]
    day[starts] = first
    channel = np.array(["web", "app"])[(np.arange(n_customers) % 3 == 0).astype(int)]
    amount = rng.gamma(4, 8, len(owner)) * np.where(channel[owner] == "app", 2, 1)
    return pd.DataFrame(
        {
            "customer_id": [f"K{i:04d}" for i in owner],
            "date": (
                pd.Timestamp("2020-01-06") + pd.to_timedelta(day, unit="D")
            ).strftime("%Y-%m-%d"),
            "value": amount.round(2),
            "channel": channel[owner],
        }
    )


class _Explained:
    name = "explained"

    def __init__(self, items: dict[str, object]) -> None:
        self.items = items
        self.seen: list[int] = []

    def artifacts(self, data):
        self.seen.append(len(data.summary))
        return self.items

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True)
        path = directory / "estimator.json"
        path.write_text("{}")
        return path


def _result(estimator: object) -> SimpleNamespace:
    log = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "timestamp": pd.to_datetime(["2021-01-01", "2021-02-01", "2021-01-15"]),
            "amount": [10.0, 20.0, 5.0],
        }
    )
    return SimpleNamespace(
        config=compose_config([]), transactions=log, estimator=estimator
    )


def test_estimator_artifacts_are_written_as_csv_and_png(tmp_path):
    figure = Figure()
    figure.add_subplot().plot([0, 1], [1, 0])
    estimator = _Explained({"table": pd.DataFrame({"x": [1, 2]}), "chart": figure})

    _write_estimator_artifacts(_result(estimator), tmp_path / "estimator")

    assert estimator.seen == [2]  # the data of the final fit: both customers
    assert pd.read_csv(tmp_path / "estimator" / "table.csv")["x"].tolist() == [1, 2]
    assert (tmp_path / "estimator" / "chart.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "estimator" / "saved" / "estimator.json").is_file()


def test_estimator_artifacts_of_another_type_break_the_contract(tmp_path):
    estimator = _Explained({"notes": "a string"})

    with pytest.raises(PluginContractError, match=r"returned str for 'notes'"):
        _write_estimator_artifacts(_result(estimator), tmp_path)


@pytest.mark.slow
def test_lightgbm_run_logs_importance_shap_and_text_models(tmp_path, monkeypatch):
    import lightgbm as lgb
    import mlflow

    path = tmp_path / "orders.csv"
    small_log().to_csv(path, index=False)
    monkeypatch.chdir(tmp_path)  # a SQLite store keeps artifacts in ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"

    result = run_experiment(
        [
            "loader=csv",
            f"loader.params.path={path}",
            "loader.params.columns.timestamp=date",
            "loader.params.columns.amount=value",
            "estimator=lightgbm",
            "estimator.params.num_rounds=40",
            "estimator.params.learning_rate=0.2",
            "estimator.params.min_data_in_leaf=20",
            "estimator.params.shap_sample=200",
            "split.calibration_end=2020-10-31",
            f"tracking.tracking_uri={uri}",
            "tracking.log_model=false",
        ],
        track=True,
    )

    client = mlflow.MlflowClient(uri)
    listed = {a.path for a in client.list_artifacts(result.run_id, "estimator")}
    assert {
        "estimator/feature_importance.csv",
        "estimator/feature_importance_plot.png",
        "estimator/shap_summary.csv",
        "estimator/shap_summary_plot.png",
        "estimator/shap_top_customers.csv",
        "estimator/training.csv",
        "estimator/saved",
    } <= listed
    local = Path(
        client.download_artifacts(result.run_id, "estimator", str(tmp_path / "out"))
    )
    importance = pd.read_csv(local / "feature_importance.csv", index_col="feature")
    estimator = result.estimator
    booster = lgb.Booster(model_file=str(local / "saved" / "model_spend.txt"))
    gains = dict(zip(booster.feature_name(), booster.feature_importance("gain")))
    assert "x_channel_share_app" in gains
    for feature, gain in gains.items():
        assert importance.loc[feature, "gain_spend"] == pytest.approx(gain)
    assert booster.model_to_string() == estimator.boosters_["spend"].model_to_string()
