"""Serving a registered model over HTTP with MLflow's scoring server.

``clvframe serve`` runs ``mlflow models serve`` in the local environment
(``--env-manager local``: no conda, no virtualenv, no network), bound to
127.0.0.1 by default. The server needs the environment's ``bin`` folder on
``PATH`` because it starts ``uvicorn`` from there.

Request: ``POST /invocations`` with ``Content-Type: application/json`` and a
body ``{"dataframe_split": {"columns": [...], "data": [[...], ...]},
"params": {...}}``; answer: ``{"predictions": [{...}, ...]}``, one record per
customer.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from clvframe.errors import ConfigError
from clvframe.tracking.mlflow import resolve_tracking_uri

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5001

logger = logging.getLogger(__name__)


def mlflow_executable() -> str:
    """The ``mlflow`` script of the running environment.

    Raises:
        ConfigError: No ``mlflow`` script is installed beside the interpreter
            or on ``PATH``.
    """
    beside = Path(sys.executable).parent / "mlflow"
    if beside.is_file():
        return str(beside)
    found = shutil.which("mlflow")
    if found is None:
        raise ConfigError(
            "the mlflow command was not found beside the Python interpreter "
            f"({beside}) or on PATH; install mlflow in this environment."
        )
    return found


def serve_command(
    model_uri: str,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    workers: int = 1,
    timeout: int = 60,
) -> list[str]:
    """The ``mlflow models serve`` command line for a model.

    Raises:
        ConfigError: The port or the worker count is out of range.
    """
    if not 0 < int(port) < 65536:
        raise ConfigError(f"port must be between 1 and 65535; got {port!r}.")
    if int(workers) < 1:
        raise ConfigError(f"workers must be at least 1; got {workers!r}.")
    return [
        mlflow_executable(),
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "-h",
        host,
        "-p",
        str(int(port)),
        "-w",
        str(int(workers)),
        "-t",
        str(int(timeout)),
    ]


def serve_environment(
    tracking: str | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Environment of the server: the venv's bin first on PATH, the store set.

    Args:
        tracking: Tracking store that resolves ``models:/`` URIs.
        base: The environment to extend (``os.environ`` by default).
    """
    env = dict(os.environ if base is None else base)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")]).rstrip(os.pathsep)
    uri = resolve_tracking_uri(tracking)
    env["MLFLOW_TRACKING_URI"] = uri
    env.setdefault("MLFLOW_REGISTRY_URI", uri)
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return env


def exec_server(command: list[str], env: Mapping[str, str]) -> None:
    """Replace this process with the server, so that signals reach it directly."""
    logger.info("Starting: %s", " ".join(command))
    os.execve(command[0], command, dict(env))
