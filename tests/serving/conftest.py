"""Fixtures for the serving tests: a fitted run on CDNOW and its packaged model."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def historic_run():
    """The historic estimator on all of CDNOW, untracked (about a second)."""
    from clvframe.experiment import run_experiment

    return run_experiment(
        ["estimator=historic", "split.calibration_end=null", "tracking.enabled=false"]
    )


@pytest.fixture(scope="session")
def cdnow_text_log(historic_run) -> pd.DataFrame:
    """CDNOW as another system would send it: every column as text."""
    log = historic_run.transactions
    return log.assign(
        timestamp=log["timestamp"].dt.strftime("%Y-%m-%d"),
        amount=log["amount"].map(repr),
    ).astype(str)


@pytest.fixture(scope="session")
def saved_model(historic_run, tmp_path_factory) -> Path:
    """The historic run packaged as a pyfunc model folder."""
    from clvframe.serving.pyfunc import save_model

    return save_model(historic_run, tmp_path_factory.mktemp("model") / "historic")
