"""From a tracked run on CDNOW to a registered champion, batch scores and HTTP.

One module-scoped run (BG/NBD with its holdout), one module-scoped server.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

pytestmark = pytest.mark.slow
mlflow = pytest.importorskip("mlflow")

EXPERIMENT = "serving-e2e"
NUMBERS = ["expected_purchases", "p_alive", "p_repurchase", "expected_spend", "clv"]
SECRET_IDS = ("cust-secret-4711", "cust-secret-4712")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from clvframe.experiment import run_experiment

    folder = tmp_path_factory.mktemp("e2e")
    uri = f"sqlite:///{folder}/mlflow.db"
    result = run_experiment(
        [
            f"tracking.tracking_uri={uri}",
            "tracking.log_model=true",
            f"tracking.experiment={EXPERIMENT}",
            "estimator=bgnbd",
        ]
    )
    return SimpleNamespace(folder=folder, uri=uri, result=result)


def _invoke(command, args):
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def champion(store):
    from clvframe.serving.cli import promote
    from clvframe.serving.cli import register

    tracking = ["--tracking-uri", store.uri]
    run_id = store.result.run_id
    _invoke(register, ["--name", "clv", "--run", run_id, *tracking])
    best = _invoke(
        register,
        ["--name", "clv", "--experiment", EXPERIMENT, "--metric", "holdout_spend_mae"]
        + tracking,
    )
    assert "as models:/clv/2" in best
    assert "new alias" in _invoke(promote, ["clv", "1", *tracking])
    moved = _invoke(promote, ["clv", "2", "--alias", "champion", *tracking])
    assert "was version 1" in moved
    _invoke(promote, ["clv", "1", "--alias", "challenger", *tracking])
    return "models:/clv@champion"


@pytest.fixture(scope="module")
def sample_log(store):
    """Every row of 300 CDNOW customers, as text, as another system sends it."""
    log = store.result.transactions
    chosen = log["customer_id"].drop_duplicates().sample(300, random_state=7)
    sample = log[log["customer_id"].isin(chosen)]
    return sample.assign(
        timestamp=sample["timestamp"].dt.strftime("%Y-%m-%d"),
        amount=sample["amount"].map(repr),
    ).astype(str)


@pytest.fixture(scope="module")
def batch_scores(store, champion, sample_log):
    from clvframe.serving.cli import score

    source = store.folder / "sample.csv"
    sample_log.to_csv(source, index=False)
    output = store.folder / "scores.parquet"
    _invoke(
        score,
        ["--model", champion, "--input", str(source), "--output", str(output)]
        + ["--tracking-uri", store.uri, "--no-progress", "--chunk-rows", "400"],
    )
    return pd.read_parquet(output).set_index("customer_id").sort_index()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def server(store, champion):
    port = _free_port()
    log_path = store.folder / "server.log"
    command = [sys.executable, "-m", "clvframe.cli", "serve", "--model", champion]
    command += ["--port", str(port), "--tracking-uri", store.uri]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 150
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited: {log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server did not start: {log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield SimpleNamespace(url=url, log=log_path)
    finally:
        _stop(process)


def _post(url: str, body: object, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}/invocations", data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_versions_carry_metrics_config_and_aliases(store, champion):
    client = mlflow.MlflowClient(tracking_uri=store.uri)

    version = client.get_model_version_by_alias("clv", "champion")
    challenger = client.get_model_version_by_alias("clv", "challenger")

    assert (str(version.version), str(challenger.version)) == ("2", "1")
    assert version.run_id == store.result.run_id
    metric = store.result.metrics["holdout_spend_mae"]
    assert float(version.tags["metric.holdout_spend_mae"]) == metric
    assert version.tags["config.estimator.name"] == "bgnbd"
    assert float(version.tags["config.forecast.horizon"]) == 52
    assert version.current_stage in ("None", None)


def test_batch_scores_are_the_run_s_forecast(store, batch_scores):
    expected = store.result.customers.loc[batch_scores.index]

    assert len(batch_scores) == 300
    np.testing.assert_allclose(batch_scores[NUMBERS], expected[NUMBERS], rtol=1e-10)
    assert (batch_scores["segment"] == expected["segment"].astype(str)).all()


def test_http_answers_with_the_batch_numbers(server, sample_log, batch_scores):
    body = {"dataframe_split": sample_log.to_dict(orient="split")}
    body["dataframe_split"].pop("index")
    body["params"] = {"horizon": 52.0, "as_of": "1998-06-30"}

    status, answer = _post(server.url, body)

    assert status == 200
    served = pd.DataFrame(answer["predictions"]).set_index("customer_id").sort_index()
    assert served.index.equals(batch_scores.index)
    np.testing.assert_allclose(served[NUMBERS], batch_scores[NUMBERS], rtol=1e-12)
    assert (served["segment"] == batch_scores["segment"]).all()


@pytest.mark.parametrize(
    ("columns", "rows", "expected"),
    [
        (
            ["customer_id", "timestamp"],
            [[SECRET_IDS[0], "1998-01-03"], [SECRET_IDS[1], "1998-02-03"]],
            "missing column(s) ['amount']",
        ),
        (
            ["customer_id", "timestamp", "amount"],
            [
                [SECRET_IDS[0], "1998-01-03", "12,5"],
                [SECRET_IDS[1], "1998-02-03", "ten"],
            ],
            "column 'amount': 2 values are not numbers (rows 0, 1",
        ),
        (
            ["customer_id", "timestamp", "amount"],
            [[SECRET_IDS[0], "03/01/1998", "12.5"], [SECRET_IDS[1], "1998-02-03", "9"]],
            "column 'timestamp': 1 values cannot be read as dates (rows 0",
        ),
    ],
    ids=["missing-column", "text-amounts", "unparseable-dates"],
)
def test_bad_requests_get_a_short_400_without_their_data(
    server, columns, rows, expected
):
    body = {"dataframe_split": {"columns": columns, "data": rows}}

    status, answer = _post(server.url, body)

    assert status == 400
    assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert expected in answer["message"]
    assert set(answer) <= {"error_code", "message", "sqlstate", "error_class"}
    text = json.dumps(answer)
    for secret in (*SECRET_IDS, "12,5", "ten", "03/01/1998", "Traceback"):
        assert secret not in text
    served_log = server.log.read_text()
    for secret in (*SECRET_IDS, "12,5", "03/01/1998"):
        assert secret not in served_log
