"""End to end on CDNOW: RFM segments, exports and the acquisition budget in a run."""

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from rich.console import Console

import clvframe.cli as cli
from clvframe.experiment import run_experiment
from clvframe.experiment import valuation_from_config
from clvframe.reporting import run_figures
from clvframe.reporting import run_tables
from clvframe.segmenters.rfm import DEFAULT_ORDER


@pytest.fixture(scope="module")
def rfm_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    result = run_experiment(
        [
            "segmenter=rfm",
            "split.calibration_end=null",
            "forecast.margin=0.4",
            "acquisition.target_ratio=4",
            "export=[csv,sql]",
            f"export.csv.params.path={folder}/list.csv",
            "export.csv.params.columns=[r_score,f_score,m_score,historic_clv]",
            f"export.sql.params.url=sqlite:///{folder}/crm.db",
            "export.sql.params.segments=[champions,'at risk']",
        ],
        track=False,
    )
    return result, folder


def test_run_logs_the_rfm_segment_table_with_historic_beside_predicted(rfm_run):
    result, _ = rfm_run
    customers, table = result.customers, result.segment_table
    assert table.index.tolist() == list(DEFAULT_ORDER)
    assert table["customers"].sum() == len(customers) == 23_570
    by_segment = customers.groupby(customers["segment"].astype(str))
    champions = by_segment.get_group("champions")
    assert table.loc["champions", "customers"] == len(champions)
    assert table.loc["champions", "total_historic_clv"] == pytest.approx(
        0.4 * champions["total_spend"].sum()
    )
    assert table.loc["champions", "mean_clv"] == pytest.approx(champions["clv"].mean())
    assert table["share_of_value"].sum() == pytest.approx(1.0)
    assert "segments" in run_tables(result)
    assert "segments" in run_figures(result)


def test_run_reports_the_acquisition_budget_and_cohorts(rfm_run):
    result, _ = rfm_run
    valuation = valuation_from_config(result.config)
    clv = result.estimator.new_customer_clv(52, "week", valuation)
    assert result.metrics["acquisition_new_customer_clv"] == pytest.approx(clv)
    assert result.metrics["acquisition_max_cost"] == pytest.approx(clv / 4)
    cohorts = run_tables(result)["acquisition_cohorts"]
    months = result.customers["first_purchase"].dt.strftime("%Y-%m").value_counts()
    assert cohorts["customers"].to_dict() == months.sort_index().to_dict()
    assert cohorts.index.tolist() == ["1997-01", "1997-02", "1997-03"]


def test_run_exports_the_chosen_segments(rfm_run):
    result, folder = rfm_run
    customers = result.customers
    listed = pd.read_csv(folder / "list.csv", dtype={"customer_id": str})
    assert len(listed) == len(customers)
    assert listed["clv"].is_monotonic_decreasing
    truth = customers.loc[listed["customer_id"]]
    np.testing.assert_allclose(listed["clv"], truth["clv"])
    np.testing.assert_allclose(listed["historic_clv"], truth["historic_clv"])
    assert (listed["segment"] == truth["segment"].astype(str).to_numpy()).all()
    scores = result.segmenter.scores(customers).loc[listed["customer_id"]]
    assert (listed["r_score"].to_numpy() == scores["r_score"].to_numpy()).all()

    engine = sa.create_engine(f"sqlite:///{folder}/crm.db")
    table = pd.read_sql_table("customer_segments", engine)
    engine.dispose()
    wanted = customers["segment"].astype(str).isin(["champions", "at risk"])
    assert sorted(table["customer_id"]) == sorted(customers.index[wanted])
    assert len(result.info["exports"]) == 2


def test_summary_prints_segments_budget_and_exports(rfm_run, monkeypatch):
    result, _ = rfm_run
    console = Console(record=True, width=160)
    monkeypatch.setattr(cli, "console", console)
    cli.print_summary(result)
    text = console.export_text()
    assert "champions" in text and "historic total" in text
    clv = result.metrics["acquisition_new_customer_clv"]
    assert f"worth {clv:,.2f}" in text
    assert "1997-02" in text and "Exported csv: 23570 rows" in text


def test_rfm_within_tiers_runs_and_a_historic_run_has_no_budget():
    result = run_experiment(
        [
            "estimator=historic",
            "segmenter=rfm_within_tiers",
            "split.calibration_end=null",
        ],
        track=False,
    )
    labels = result.customers["segment"].astype(str)
    assert labels.str.contains(" / ").all()
    assert result.segment_table["customers"].sum() == len(result.customers)
    assert "acquisition_new_customer_clv" not in result.metrics
    cli.print_summary(result)


@pytest.mark.slow
def test_tracked_run_logs_table_chart_metrics_and_cohorts(tmp_path):
    import mlflow

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    result = run_experiment(
        [
            "segmenter=rfm",
            "split.calibration_end=null",
            f"tracking.tracking_uri={uri}",
            "tracking.log_model=false",
        ],
        track=True,
    )
    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(result.run_id)
    assert run.data.metrics["acquisition_max_cost"] == pytest.approx(
        result.metrics["acquisition_new_customer_clv"] / 3
    )
    names = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"segments.csv", "acquisition_cohorts.csv"} <= names
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert "plots/segments.png" in plots
    logged = pd.read_csv(
        client.download_artifacts(result.run_id, "segments.csv", str(tmp_path))
    )
    assert logged["segment"].tolist() == list(DEFAULT_ORDER)
