"""Packaging a run's fitted estimator as an MLflow pyfunc model.

The model's input is a transaction log (``customer_id``, ``timestamp``,
``amount`` and any extra columns) and its output one row per customer. The
features are built inside the model by the code that built them in training,
so serving cannot drift from training. Its parameters (``as_of``,
``horizon``, ``horizon_unit``, ``margin``, ``discount_rate``) are pyfunc
params whose defaults, the run's settings, are in the signature.

Nothing is pickled: the model is logged from code (:mod:`._model_code`), the
estimator saves itself as JSON (LightGBM adds its own text files), and the
settings are a JSON document. ``mlflow`` is imported inside the functions.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import numpy as np
import pandas as pd

from clvframe.data.transactions import CANONICAL_COLUMNS
from clvframe.serving.scorer import SETTINGS_FILE
from clvframe.serving.scorer import CLVScorer
from clvframe.serving.scorer import ModelSettings
from clvframe.serving.scorer import freeze_segmenter
from clvframe.serving.scorer import settings_from_config

if TYPE_CHECKING:
    from mlflow.models import ModelSignature

    from clvframe.experiment import RunResult

MODEL_ARTIFACT_NAME = "model"
MODEL_URI_TAG = "clvframe.model_uri"
CODE_FILE = Path(__file__).with_name("_model_code.py")
# lightgbm is pinned too: a served LightGBM model reads its own text format.
_REQUIREMENTS = ("mlflow", "pandas", "numpy", "scipy", "pyarrow", "lightgbm")

logger = logging.getLogger(__name__)


def log_model(result: RunResult) -> str:
    """Log the run's estimator as a pyfunc model in the active MLflow run.

    Called by :func:`clvframe.tracking.mlflow.log_run` inside the run when
    ``tracking.log_model`` is true. Tags the run with ``clvframe.model_uri``.

    Returns:
        The model's URI (``models:/<model id>``).
    """
    import mlflow

    with tempfile.TemporaryDirectory() as tmp, _quiet_mlflow():
        package = _package(result, Path(tmp))
        info = mlflow.pyfunc.log_model(name=MODEL_ARTIFACT_NAME, **package)
    mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
    logger.info(
        "Logged the %s model as %s", result.config.estimator.name, info.model_uri
    )
    return info.model_uri


def save_model(result: RunResult, path: str | Path) -> Path:
    """Save the run's estimator as a pyfunc model folder, outside any run.

    Args:
        result: A finished run.
        path: A folder that does not exist yet.
    """
    import mlflow

    target = Path(path)
    with tempfile.TemporaryDirectory() as tmp, _quiet_mlflow():
        package = _package(result, Path(tmp))
        mlflow.pyfunc.save_model(path=str(target), **package)
    return target


def example_log(
    settings: ModelSettings, extras: dict[str, Any] | None = None
) -> pd.DataFrame:
    """A small made-up log in the request format, for the model's example.

    Two customers with orders before the model's observation end; ids and
    amounts are invented, so no customer data goes into the model.
    """
    end = pd.Timestamp(settings.observation_end)
    days = [200, 120, 30, 90]
    frame = pd.DataFrame(
        {
            "customer_id": ["example-1", "example-1", "example-1", "example-2"],
            "timestamp": [
                (end - pd.Timedelta(days=d)).strftime("%Y-%m-%d") for d in days
            ],
            "amount": [25.0, 40.5, 12.0, 60.0],
        }
    )
    for column, value in (extras or {}).items():
        frame[column] = value
    return frame


def _package(result: RunResult, folder: Path) -> dict[str, Any]:
    """Write the artifacts and build the arguments of ``log_model``/``save_model``."""
    estimator_dir = folder / "estimator"
    result.estimator.save(estimator_dir)
    extras = [c for c in result.transactions.columns if c not in CANONICAL_COLUMNS]
    settings = settings_from_config(
        result.config,
        observation_end=_observation_end(result),
        segmenter=freeze_segmenter(result.segmenter, result.customers),
        extra_columns=extras,
    )
    settings_file = settings.write(folder / SETTINGS_FILE)

    example = example_log(settings, _typical_extras(result.transactions, extras))
    scorer = CLVScorer(result.estimator, settings)
    signature = build_signature(scorer.score(example), settings.default_params())
    return {
        "python_model": str(CODE_FILE),
        "artifacts": {"estimator": str(estimator_dir), "settings": str(settings_file)},
        "signature": signature,
        "input_example": (example, settings.default_params()),
        "pip_requirements": _requirements(),
        "metadata": {
            "clvframe_estimator": settings.estimator,
            "clvframe_input_columns": [*CANONICAL_COLUMNS, *extras],
            "clvframe_observation_end": settings.observation_end,
        },
    }


def build_signature(output: pd.DataFrame, params: dict[str, Any]) -> ModelSignature:
    """The model's signature: output columns and params with their defaults.

    The signature has no input schema on purpose. MLflow would enforce one
    before the model sees the log, and its errors repeat the request's rows;
    the model validates the log itself, with messages free of customer data.
    It would also drop extra columns that a model may use, and checking a
    column of any type costs a Python call per value.
    """
    from mlflow.models import ModelSignature
    from mlflow.models import infer_signature

    inferred = infer_signature(model_output=output, params=params)
    return ModelSignature(inputs=None, outputs=inferred.outputs, params=inferred.params)


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """Silence MLflow's advice that does not apply to these models."""
    with warnings.catch_warnings():
        # The integer output column (frequency) never holds missing values.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains")
        # The signature is given; predict's input is a log, not a type hint.
        warnings.filterwarnings("ignore", message=".*Add type hints to the `predict`")
        yield


def _observation_end(result: RunResult) -> pd.Timestamp:
    end = result.info.get("observation_end")
    if end:
        return pd.Timestamp(end)
    return pd.Timestamp(result.transactions["timestamp"].max()).normalize()


def _typical_extras(transactions: pd.DataFrame, extras: list[str]) -> dict[str, Any]:
    """The most common value of each extra column (a level, not a customer's)."""
    typical: dict[str, Any] = {}
    for column in extras:
        values = transactions[column].dropna()
        if values.empty:
            typical[column] = None
            continue
        mode = values.mode().iloc[0]
        typical[column] = mode.item() if isinstance(mode, np.generic) else mode
        if isinstance(typical[column], pd.Timestamp):
            typical[column] = typical[column].isoformat()
    return typical


def _requirements() -> list[str]:
    """Pinned requirements; clvframe itself must be installed where it is served."""
    pins = [f"clvframe=={importlib.metadata.version('clvframe')}"]
    for name in _REQUIREMENTS:
        pins.append(f"{name}=={importlib.metadata.version(name)}")
    return pins
