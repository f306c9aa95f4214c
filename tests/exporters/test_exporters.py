import os
import stat

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import clvframe.exporters.csv as csv_module
import clvframe.exporters.parquet as parquet_module
import clvframe.exporters.sql as sql_module
from clvframe._plugins import build_registry
from clvframe.errors import ConfigError
from clvframe.errors import DataValidationError
from clvframe.exporters import run_exports
from clvframe.exporters import write_atomically
from clvframe.exporters.csv import CsvExporter
from clvframe.exporters.parquet import ParquetExporter
from clvframe.exporters.sql import SqlExporter


class Interrupted(RuntimeError):
    pass


@pytest.fixture
def customers() -> pd.DataFrame:
    """Eight customers, ids as strings with leading zeros, two segments."""
    ids = pd.Index([f"00{i}" for i in range(8)], name="customer_id")
    clv = [5.0, 80.0, 20.0, 0.0, 80.0, 3.5, 41.0, 7.25]
    frame = pd.DataFrame(
        {
            "clv": clv,
            "p_alive": [0.1, 0.9, np.nan, 0.2, 0.95, 0.3, 0.7, 0.6],
            "historic_clv": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "expected_purchases": np.arange(8) / 2,
        },
        index=ids,
    )
    labels = [
        "lost",
        "champions",
        "loyal",
        "lost",
        "champions",
        "lost",
        "loyal",
        "loyal",
    ]
    frame["segment"] = pd.Categorical(
        labels, categories=["champions", "loyal", "new", "lost"], ordered=True
    )
    return frame


def expected_rows(customers: pd.DataFrame, segments: list[str]) -> pd.DataFrame:
    """What an export holds, built by hand: chosen rows, highest CLV first."""
    chosen = customers[customers["segment"].astype(str).isin(segments)]
    ranked = chosen.reset_index().sort_values(
        ["clv", "customer_id"], ascending=[False, True]
    )
    return ranked.reset_index(drop=True)


# --- selection ----------------------------------------------------------------


def test_select_keeps_the_chosen_segments_ranked_by_clv(customers):
    exporter = CsvExporter(segments=["champions", "loyal"], columns=["historic_clv"])
    frame = exporter.select(customers)
    want = expected_rows(customers, ["champions", "loyal"])
    assert list(frame.columns) == [
        "customer_id",
        "segment",
        "tier",
        "clv",
        "p_alive",
        "historic_clv",
    ]
    # Ties in CLV (001 and 004, both 80) go by customer id, never row order.
    assert frame["customer_id"].tolist() == ["001", "004", "006", "002", "007"]
    assert frame["customer_id"].tolist() == want["customer_id"].tolist()
    np.testing.assert_allclose(frame["clv"], want["clv"])
    # Tiers rank all eight customers: nobody is above the two 80s (top 1%, a
    # tie goes up); 41 has 2 of 8 = 25% above it, so it is not in the top 25%.
    assert frame["tier"].tolist()[:3] == ["top 1%", "top 1%", "rest (bottom 75%)"]


def test_select_reports_unknown_segments_and_columns(customers):
    with pytest.raises(ConfigError, match=r"\['vip'\] are not segments.*champions"):
        CsvExporter(segments=["vip"]).select(customers)
    with pytest.raises(ConfigError, match=r"\['r_score'\] are not columns"):
        CsvExporter(columns=["r_score"]).select(customers)
    with pytest.raises(ConfigError, match=r"customers have no segment"):
        CsvExporter(segments=["lost"]).select(customers.drop(columns="segment"))
    with pytest.raises(DataValidationError, match=r"no 'clv' column"):
        CsvExporter().select(customers.drop(columns="clv"))


# --- files and tables, read back --------------------------------------------


def test_csv_export_reads_back_equal(customers, tmp_path):
    path = tmp_path / "out" / "top.csv"
    exporter = CsvExporter(
        path=str(path), segments=["champions", "loyal"], chunk_rows=2
    )
    result = exporter.export(customers)
    back = pd.read_csv(path, dtype={"customer_id": str})
    want = expected_rows(customers, ["champions", "loyal"])
    assert result.rows == 5 and result.location == str(path)
    assert back["customer_id"].tolist() == want["customer_id"].tolist()
    assert back["segment"].tolist() == want["segment"].astype(str).tolist()
    np.testing.assert_allclose(back["clv"], want["clv"])
    np.testing.assert_allclose(back["p_alive"], want["p_alive"])
    # A plain file: readable by others as any new file, not a 0600 temp file.
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_parquet_export_reads_back_equal(customers, tmp_path):
    path = tmp_path / "top.parquet"
    ParquetExporter(path=str(path), chunk_rows=3).export(customers)
    back = pd.read_parquet(path)
    want = expected_rows(customers, ["champions", "loyal", "lost"])
    assert back["customer_id"].tolist() == want["customer_id"].tolist()
    assert back["segment"].tolist() == want["segment"].astype(str).tolist()
    np.testing.assert_allclose(back["clv"], want["clv"])
    assert back["p_alive"].isna().sum() == 1


def test_sql_export_reads_back_equal_and_honours_if_exists(customers, tmp_path):
    url = f"sqlite:///{tmp_path}/db/marketing.db"
    exporter = SqlExporter(url=url, table="top", segments=["champions"], chunk_rows=1)
    assert exporter.export(customers).location == f"{url}#top"
    engine = sa.create_engine(url)
    back = pd.read_sql_table("top", engine)
    assert back["customer_id"].tolist() == ["001", "004"]
    assert back["segment"].tolist() == ["champions", "champions"]
    np.testing.assert_allclose(back["clv"], [80.0, 80.0])

    SqlExporter(url=url, table="top", segments=["loyal"]).export(customers)
    assert pd.read_sql_table("top", engine)["customer_id"].tolist() == [
        "006",
        "002",
        "007",
    ]
    SqlExporter(
        url=url, table="top", segments=["champions"], if_exists="append"
    ).export(customers)
    assert len(pd.read_sql_table("top", engine)) == 5
    with pytest.raises(ConfigError, match=r"table 'top' already exists"):
        SqlExporter(url=url, table="top", if_exists="fail").export(customers)
    # NULL for a missing P(alive); a new column cannot be appended.
    SqlExporter(url=url, table="everyone").export(customers)
    assert pd.read_sql_table("everyone", engine)["p_alive"].isna().sum() == 1
    with pytest.raises(ConfigError, match=r"no column\(s\) \['historic_clv'\]"):
        SqlExporter(
            url=url, table="top", if_exists="append", columns=["historic_clv"]
        ).export(customers)
    engine.dispose()


# --- interrupted exports leave nothing partial ---------------------------------


def interrupt_after(calls: int, real):
    """A writer that does its first ``calls`` steps and then fails."""
    done = []

    def step(*args, **kwargs):
        if len(done) == calls:
            raise Interrupted("power cut")
        done.append(1)
        real(*args, **kwargs)

    return step


@pytest.mark.parametrize("previous", [False, True])
def test_interrupted_csv_export_leaves_no_partial_file(
    customers, tmp_path, monkeypatch, previous
):
    path = tmp_path / "list.csv"
    if previous:
        path.write_text("customer_id\nold\n")
    real = csv_module._write_chunk
    monkeypatch.setattr(csv_module, "_write_chunk", interrupt_after(2, real))
    with pytest.raises(Interrupted, match="power cut"):
        CsvExporter(path=str(path), chunk_rows=2).export(customers)
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        ["list.csv"] if previous else []
    )
    if previous:
        assert path.read_text() == "customer_id\nold\n"


@pytest.mark.parametrize("previous", [False, True])
def test_interrupted_parquet_export_leaves_no_partial_file(
    customers, tmp_path, monkeypatch, previous
):
    path = tmp_path / "list.parquet"
    if previous:
        pd.DataFrame({"customer_id": ["old"]}).to_parquet(path)
    before = path.read_bytes() if previous else None
    real = parquet_module._write_row_group
    monkeypatch.setattr(parquet_module, "_write_row_group", interrupt_after(1, real))
    with pytest.raises(Interrupted, match="power cut"):
        ParquetExporter(path=str(path), chunk_rows=3).export(customers)
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        ["list.parquet"] if previous else []
    )
    if previous:
        assert path.read_bytes() == before


@pytest.mark.parametrize("previous", [False, True])
def test_interrupted_sql_export_rolls_back(customers, tmp_path, monkeypatch, previous):
    url = f"sqlite:///{tmp_path}/marketing.db"
    engine = sa.create_engine(url)
    if previous:
        SqlExporter(url=url, table="list", segments=["champions"]).export(customers)
    before = pd.read_sql_table("list", engine) if previous else None
    real = sql_module._insert_rows
    monkeypatch.setattr(sql_module, "_insert_rows", interrupt_after(2, real))
    with pytest.raises(Interrupted, match="power cut"):
        # replace: DROP, CREATE and the first two INSERT batches all roll back.
        SqlExporter(url=url, table="list", chunk_rows=2).export(customers)
    assert sa.inspect(engine).has_table("list") is previous
    if previous:
        pd.testing.assert_frame_equal(pd.read_sql_table("list", engine), before)
    engine.dispose()


def test_write_atomically_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")

    def fail(partial):
        partial.write_text("half")
        raise Interrupted("stop")

    with pytest.raises(Interrupted, match="stop"):
        write_atomically(path, fail)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]
    write_atomically(path, lambda partial: partial.write_text("new"))
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["a.txt"]


# --- choosing exporters from config -------------------------------------------


def test_run_exports_takes_the_config_section_a_list_or_nothing(customers, tmp_path):
    registry = build_registry(autoload=False)
    section = {
        "csv": {"name": "csv", "params": {"path": str(tmp_path / "a.csv")}},
        "parquet": {"name": "parquet", "params": {"path": str(tmp_path / "a.parquet")}},
    }
    results = run_exports(customers, section, registry=registry)
    assert [r.exporter for r in results] == ["csv", "parquet"]
    assert [r.rows for r in results] == [8, 8]
    listed = run_exports(
        customers,
        [
            {
                "name": "csv",
                "params": {"path": str(tmp_path / "b.csv"), "segments": ["new"]},
            }
        ],
        registry=registry,
    )
    assert listed[0].rows == 0
    assert pd.read_csv(tmp_path / "b.csv").columns.tolist()[:2] == [
        "customer_id",
        "segment",
    ]
    assert run_exports(customers, None, registry=registry) == []
    with pytest.raises(ConfigError, match=r"export.0.name: 'xlsx' is not a registered"):
        run_exports(customers, [{"name": "xlsx"}], registry=registry)
    with pytest.raises(ConfigError, match=r"no parameter\(s\) \['file'\]"):
        run_exports(
            customers, {"name": "csv", "params": {"file": "x"}}, registry=registry
        )
