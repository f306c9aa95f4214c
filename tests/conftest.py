"""Shared fixtures: the reference data beside the repository, a quiet MLflow."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from clvframe.data.transactions import Source
from clvframe.data.transactions import prepare_transactions

# The reference data and cases lie beside the repository (as in CI); point
# CLVFRAME_SHARED_DIR elsewhere when the clone is somewhere else.
SHARED = Path(
    os.environ.get("CLVFRAME_SHARED_DIR")
    or Path(__file__).resolve().parents[2] / "shared"
)


@pytest.fixture(autouse=True)
def _quiet_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def cases_dir() -> Path:
    path = SHARED / "cases"
    if not path.is_dir():
        pytest.skip(f"shared cases not found at {path}")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"shared reference data not found at {path}")
    return path


@pytest.fixture
def read_case(cases_dir: Path):
    """Read a shared case log as the csv loader would (text, line numbers)."""

    def read(name: str, **options: object) -> pd.DataFrame:
        path = cases_dir / name
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        return prepare_transactions(
            raw,
            columns={"timestamp": "date"},
            source=Source(str(path), first_line=2),
            **options,
        )

    return read
