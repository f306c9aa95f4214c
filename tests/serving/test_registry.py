"""Choosing the best run, tagging versions and moving aliases."""

from __future__ import annotations

import pytest

from clvframe.errors import ConfigError
from clvframe.serving.pyfunc import MODEL_URI_TAG
from clvframe.serving.registry import RegistryError
from clvframe.serving.registry import best_run
from clvframe.serving.registry import promote
from clvframe.serving.registry import register_run

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Four runs: three with a model (MAE 3, 1, 2; bias -0.5, 0.9, 0.2), one without."""
    folder = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{folder}/mlflow.db"
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("runs")
    runs = {}
    for name, mae, bias, model in (
        ("a", 3.0, -0.5, True),
        ("b", 1.0, 0.9, True),
        ("c", 2.0, 0.2, True),
        ("no-model", 0.5, 0.0, False),
    ):
        run = client.create_run(experiment, run_name=name)
        client.log_metric(run.info.run_id, "holdout_spend_mae", mae)
        client.log_metric(run.info.run_id, "holdout_revenue_error", bias)
        client.log_param(run.info.run_id, "estimator.name", f"est-{name}")
        if model:
            source = folder / f"model-{name}"
            source.mkdir()
            client.set_tag(run.info.run_id, MODEL_URI_TAG, source.as_uri())
        client.set_terminated(run.info.run_id)
        runs[name] = run.info.run_id
    return uri, client, runs


@pytest.mark.parametrize(
    ("metric", "direction", "expected"),
    [
        ("holdout_spend_mae", None, "b"),  # lower is better; 'no-model' has no model
        ("holdout_spend_mae", "higher", "a"),
        ("holdout_revenue_error", None, "c"),  # closest to zero
    ],
)
def test_the_best_run_with_a_model_wins(store, metric, direction, expected):
    _, client, runs = store

    run, value = best_run(client, "runs", metric, direction=direction)

    assert run.info.run_id == runs[expected]
    assert value == run.data.metrics[metric]


def test_an_unknown_metric_direction_must_be_given(store):
    _, client, _ = store

    with pytest.raises(ConfigError, match="pass a direction"):
        best_run(client, "runs", "my_score")


def test_no_candidate_run_is_explained(store):
    _, client, _ = store

    with pytest.raises(RegistryError, match="3 have one"):
        best_run(client, "runs", "holdout_gini")
    with pytest.raises(RegistryError, match="does not exist; have"):
        best_run(client, "nope", "holdout_gini")


def test_versions_carry_the_run_s_metrics_and_config_and_aliases_move(store):
    uri, client, runs = store

    first = register_run(runs["a"], "clv", tracking_uri=uri)
    second = register_run(runs["b"], "clv", tracking_uri=uri)

    assert (first.version, second.version) == ("1", "2")
    tags = client.get_model_version("clv", "2").tags
    assert float(tags["metric.holdout_spend_mae"]) == 1.0
    assert tags["config.estimator.name"] == "est-b"
    assert tags["clvframe.run_id"] == runs["b"]
    assert promote("clv", 1, tracking_uri=uri) is None
    assert promote("clv", 2, tracking_uri=uri) == "1"
    assert client.get_model_version_by_alias("clv", "champion").version in (2, "2")


def test_registering_or_promoting_what_does_not_exist_says_so(store):
    uri, _, runs = store
    register_run(runs["c"], "clv-errors", tracking_uri=uri)

    with pytest.raises(RegistryError, match="logged no clvframe model"):
        register_run(runs["no-model"], "clv", tracking_uri=uri)
    with pytest.raises(RegistryError, match="was not found"):
        register_run("0" * 32, "clv", tracking_uri=uri)
    with pytest.raises(RegistryError, match=r"has no version '9'; it has \["):
        promote("clv-errors", 9, tracking_uri=uri)
    with pytest.raises(RegistryError, match="does not exist or has no versions"):
        promote("unknown-model", 1, tracking_uri=uri)
    with pytest.raises(RegistryError, match="reserved by MLflow"):
        promote("clv-errors", 1, "latest", tracking_uri=uri)
