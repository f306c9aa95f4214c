"""Fixtures for the model tests: the shared reference data and cases."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def shared_path() -> Path:
    """The shared reference folder beside the repository, or CLVFRAME_SHARED_DIR."""
    configured = os.environ.get("CLVFRAME_SHARED_DIR")
    return (
        Path(configured)
        if configured
        else Path(__file__).resolve().parents[3] / "shared"
    )


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    if not path.is_dir():
        pytest.skip(f"shared reference data not found at {path}")
    return path


@pytest.fixture(scope="session")
def cdnow_summary(shared_dir: Path) -> pd.DataFrame:
    return pd.read_csv(shared_dir / "data" / "cdnow_customers_summary.csv")


@pytest.fixture(scope="session")
def cdnow_first_purchase_weeks(shared_dir: Path) -> np.ndarray:
    """Week of each sample customer's first purchase, counted from 1997-01-01.

    (day - 1997-01-01).days / 7 reproduces the published tracking totals;
    counting the first day as day 1 moves BG/NBD's week-78 total by 5.
    """
    log = pd.read_csv(
        shared_dir / "data" / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["customer", "sample_id", "date", "cds", "dollars"],
        dtype={"date": str},
    )
    days = pd.to_datetime(log["date"], format="%Y%m%d")
    first = days.groupby(log["customer"]).min()
    return (first - pd.Timestamp("1997-01-01")).dt.days.to_numpy() / 7
