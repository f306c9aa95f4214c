"""Batch scoring in chunks of customers gives the numbers of one predict call."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from clvframe.errors import ConfigError
from clvframe.serving.score import ScoringError
from clvframe.serving.score import file_format
from clvframe.serving.score import score_file

mlflow = pytest.importorskip("mlflow")

NUMBERS = ["frequency", "recency", "T", "expected_purchases", "expected_spend", "clv"]


@pytest.fixture(scope="module")
def model(saved_model):
    return mlflow.pyfunc.load_model(str(saved_model))


@pytest.fixture(scope="module")
def log_csv(cdnow_text_log, tmp_path_factory):
    path = tmp_path_factory.mktemp("logs") / "log.csv"
    cdnow_text_log.sample(frac=1.0, random_state=1).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def whole(model, cdnow_text_log):
    return model.predict(cdnow_text_log).set_index("customer_id").sort_index()


def _same(scores: pd.DataFrame, whole: pd.DataFrame) -> None:
    scores = scores.astype({"customer_id": str}).set_index("customer_id").sort_index()
    assert scores.index.is_unique
    assert scores.index.equals(whole.index)
    np.testing.assert_allclose(scores[NUMBERS], whole[NUMBERS], rtol=1e-12)
    assert (scores["segment"] == whole["segment"]).all()


def test_csv_in_chunks_equals_one_predict_call(model, log_csv, whole, tmp_path):
    output = tmp_path / "scores.parquet"

    report = score_file(model, log_csv, output, chunk_rows=20_000, progress=False)

    assert report.chunks >= 3
    assert (report.rows, report.customers) == (69_659, 23_570)
    _same(pd.read_parquet(output), whole)
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]


def test_parquet_with_typed_columns_to_csv(model, historic_run, whole, tmp_path):
    source = tmp_path / "log.parquet"
    historic_run.transactions.to_parquet(source)
    output = tmp_path / "out" / "scores.csv"

    report = score_file(model, source, output, chunk_rows=30_000, progress=False)

    assert report.chunks >= 2
    _same(pd.read_csv(output, dtype={"customer_id": str}), whole)


def test_latest_is_the_last_day_of_the_whole_file(
    model, log_csv, cdnow_text_log, tmp_path
):
    output = tmp_path / "scores.parquet"

    score_file(
        model,
        log_csv,
        output,
        params={"as_of": "latest"},
        chunk_rows=20_000,
        progress=False,
    )

    # CDNOW's last day is the training end, so 'latest' changes nothing.
    expected = model.predict(cdnow_text_log, params={"as_of": "1998-06-30"})
    scores = (
        pd.read_parquet(output).set_index("customer_id").loc[expected["customer_id"]]
    )
    np.testing.assert_allclose(scores["clv"], expected["clv"], rtol=1e-12)


def test_a_refused_chunk_says_which_and_why_without_values(model, tmp_path):
    source = tmp_path / "bad.csv"
    pd.DataFrame(
        {
            "customer_id": ["c1", "c2"],
            "timestamp": ["1998-01-01", "1998-01-02"],
            "amount": ["5", "n/a 7"],
        }
    ).to_csv(source, index=False)

    with pytest.raises(ScoringError, match="chunk 1 of 1") as caught:
        score_file(model, source, tmp_path / "scores.csv", progress=False)

    assert "values are not numbers" in str(caught.value)
    assert "n/a 7" not in str(caught.value)
    assert not (tmp_path / "scores.csv").exists()


def test_missing_columns_are_named_before_scoring(model, tmp_path):
    source = tmp_path / "log.csv"
    pd.DataFrame(
        {"customer_id": ["c1"], "date": ["1998-01-01"], "amount": ["5"]}
    ).to_csv(source, index=False)

    with pytest.raises(ScoringError, match=r"missing column\(s\) \['timestamp'\]"):
        score_file(model, source, tmp_path / "scores.csv", progress=False)


def test_formats_come_from_the_file_name():
    assert file_format("a/log.csv.gz") == "csv"
    assert file_format("scores.PARQUET") == "parquet"
    with pytest.raises(ConfigError, match="cannot tell the format"):
        file_format("scores.xlsx")


def test_score_command(saved_model, log_csv, whole, tmp_path):
    from clvframe.serving.cli import score

    output = tmp_path / "scores.csv"
    result = CliRunner().invoke(
        score,
        [
            "--model",
            str(saved_model),
            "--input",
            str(log_csv),
            "--output",
            str(output),
            "--chunk-rows",
            "40000",
            "--no-progress",
            "--horizon",
            "52",
        ],
    )

    assert result.exit_code == 0, result.output
    assert "Scored 23,570 customers" in result.output
    _same(pd.read_csv(output, dtype={"customer_id": str}), whole)
