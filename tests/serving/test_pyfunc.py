"""The pyfunc model: no pickles, the run's numbers, clean answers to bad requests."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

mlflow = pytest.importorskip("mlflow")

COLUMNS = [
    "expected_purchases",
    "p_repurchase",
    "expected_spend",
    "clv",
    "historic_clv",
]


@pytest.fixture(scope="module")
def model(saved_model):
    return mlflow.pyfunc.load_model(str(saved_model))


def test_the_model_is_code_and_json_without_a_pickle(saved_model):
    files = sorted(
        p.relative_to(saved_model).as_posix() for p in saved_model.rglob("*")
    )

    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib"))]
    assert "_model_code.py" in files
    state = json.loads((saved_model / "artifacts/estimator/estimator.json").read_text())
    assert state["estimator"] == "historic"
    settings = json.loads((saved_model / "artifacts/clvframe_model.json").read_text())
    assert settings["observation_end"] == "1998-06-30"
    assert settings["segmenter"]["name"] == "tiers"


def test_params_and_their_defaults_are_in_the_signature(model):
    params = {p.name: p.default for p in model.metadata.get_params_schema().params}

    assert params == {
        "as_of": "1998-06-30",
        "horizon": 52.0,
        "horizon_unit": "week",
        "margin": 1.0,
        "discount_rate": 0.1,
    }
    assert model.metadata.get_input_schema() is None
    outputs = model.metadata.get_output_schema().input_names()
    assert outputs[0] == "customer_id" and outputs[-1] == "segment"


def test_predict_on_the_training_log_gives_the_run_s_numbers(
    model, historic_run, cdnow_text_log
):
    scores = model.predict(cdnow_text_log).set_index("customer_id")

    expected = historic_run.customers
    assert len(scores) == len(expected) == 23_570
    scores = scores.loc[expected.index]
    np.testing.assert_allclose(scores[COLUMNS], expected[COLUMNS], rtol=1e-12)
    assert (scores["segment"] == expected["segment"].astype(str)).all()


def test_params_change_the_forecast(model, cdnow_text_log):
    log = cdnow_text_log[cdnow_text_log["customer_id"].isin(["00003", "00005"])]

    base = model.predict(log)
    doubled = model.predict(log, params={"horizon": 104.0, "discount_rate": 0.0})

    # The historic forecast is linear in the horizon.
    np.testing.assert_allclose(
        doubled["expected_purchases"], 2 * base["expected_purchases"], rtol=1e-12
    )


def test_scoring_server_answers_bad_requests_briefly_without_their_data(model):
    from mlflow.pyfunc.scoring_server import invocations

    columns = ["customer_id", "timestamp", "amount"]
    amounts = [["cust-5501", "1998-01-03", "12,5"], ["cust-5502", "1998-01-04", "9"]]
    dates = [["cust-5501", "3/1/98", "12.5"], ["cust-5502", "1998-01-04", "9"]]
    bodies = {
        "'amount': 1 values are not numbers": {
            "dataframe_split": {"columns": columns, "data": amounts}
        },
        "'timestamp': 1 values cannot be read": {
            "dataframe_split": {"columns": columns, "data": dates}
        },
        "missing column(s) ['amount']": {
            "dataframe_split": {"columns": columns[:2], "data": [r[:2] for r in dates]}
        },
    }
    for expected, body in bodies.items():
        with pytest.raises(mlflow.exceptions.MlflowException) as caught:
            invocations(json.dumps(body), "application/json", model, None)

        answer = json.loads(caught.value.serialize_as_json())
        assert caught.value.get_http_status_code() == 400
        assert expected in answer["message"]
        assert "stack_trace" not in answer
        for value in ("cust-55", "12,5", "3/1/98", "Failed to predict"):
            assert value not in answer["message"]


def test_a_model_whose_files_disagree_is_refused(saved_model, tmp_path):
    copy = shutil.copytree(saved_model, tmp_path / "model")
    settings_file = copy / "artifacts/clvframe_model.json"
    settings = json.loads(settings_file.read_text())
    settings_file.write_text(json.dumps({**settings, "estimator": "bgnbd"}))

    with pytest.raises(Exception, match="packaged as 'bgnbd'"):
        mlflow.pyfunc.load_model(str(copy))


def test_empty_scores_keep_their_columns(model):
    only_returns = pd.DataFrame(
        {"customer_id": ["r1"], "timestamp": ["1998-01-01"], "amount": ["-5"]}
    )

    scores = model.predict(only_returns)

    assert scores.empty
    assert scores.columns[0] == "customer_id"
