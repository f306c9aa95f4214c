"""Tracking runs in MLflow: params, metrics, tables, plots and the model.

The default store is embedded: a SQLite file in the working directory, so a
fresh machine needs no server. ``tracking.tracking_uri`` or the environment
variable ``MLFLOW_TRACKING_URI`` points elsewhere.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from omegaconf import OmegaConf

from clvframe._plugins import plugin_origin
from clvframe.config.compose import flatten_config

if TYPE_CHECKING:
    import pluggy

    from clvframe.experiment import RunResult

logger = logging.getLogger(__name__)

_MAX_PARAM_LENGTH = 6000


def resolve_tracking_uri(configured: str | None = None) -> str:
    """The tracking URI: config, then ``MLFLOW_TRACKING_URI``, then ./mlflow.db.

    The SQLite path is made absolute so that a later change of the working
    directory cannot move the store.
    """
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{Path.cwd().resolve() / 'mlflow.db'}"


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _tags(result: RunResult, pm: pluggy.PluginManager) -> dict[str, str]:
    config_yaml = OmegaConf.to_yaml(result.config, resolve=True)
    tags = {
        "clvframe.version": importlib.metadata.version("clvframe"),
        "clvframe.config_hash": hashlib.sha256(config_yaml.encode()).hexdigest()[:16],
        "clvframe.estimator": str(result.config.estimator.name),
        "clvframe.loader": str(result.config.loader.name),
    }
    sha = _git_sha()
    if sha:
        tags["mlflow.source.git.commit"] = sha
    for name, plugin in pm.list_name_plugin():
        if plugin is not None:
            tags[f"clvframe.plugin.{name}"] = plugin_origin(pm, plugin)
    return tags


def _params(result: RunResult) -> dict[str, str]:
    flat = flatten_config(result.config)
    return {k: str(v)[:_MAX_PARAM_LENGTH] for k, v in flat.items()}


def log_run(result: RunResult, pm: pluggy.PluginManager) -> str:
    """Log a finished run to MLflow and return its run id.

    Sets ``result.run_id``, ``result.tracking_uri`` and ``result.experiment_id``.
    """
    import mlflow

    tracking = result.config.tracking
    uri = resolve_tracking_uri(tracking.tracking_uri)
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        return _log(result, pm, uri)
    finally:
        # NB: set_tracking_uri also sets MLFLOW_TRACKING_URI, which child
        # processes would inherit; leave the caller's environment as it was.
        if previous is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous


def _log(result: RunResult, pm: pluggy.PluginManager, uri: str) -> str:
    import mlflow

    from clvframe.reporting import run_figures
    from clvframe.reporting import run_tables

    tracking = result.config.tracking
    experiment = mlflow.set_experiment(str(tracking.experiment))
    run_name = tracking.run_name or f"{result.config.estimator.name}"
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params(_params(result))
        mlflow.set_tags(_tags(result, pm))
        if result.metrics:
            mlflow.log_metrics({k: float(v) for k, v in result.metrics.items()}, step=0)
        mlflow.log_metrics(_info_metrics(result), step=0)
        with tempfile.TemporaryDirectory() as tmp:
            _write_artifacts(result, Path(tmp), run_tables(result), run_figures(result))
            mlflow.log_artifacts(tmp)
        if tracking.log_model:
            from clvframe.serving.pyfunc import log_model

            log_model(result)
        result.run_id = run.info.run_id
    result.tracking_uri = uri
    result.experiment_id = experiment.experiment_id
    logger.info("Logged run %s to %s", result.run_id, uri)
    return run.info.run_id


def _info_metrics(result: RunResult) -> dict[str, float]:
    keys = ("customers", "rows", "holdout_customers", "holdout_new_customers")
    info = {f"n_{k}": float(result.info[k]) for k in keys if k in result.info}
    customers = result.customers
    info["forecast_total_clv"] = float(customers["clv"].sum())
    info["forecast_mean_clv"] = float(customers["clv"].mean())
    info["historic_total_clv"] = float(customers["historic_clv"].sum())
    return info


def _write_artifacts(
    result: RunResult,
    folder: Path,
    tables: dict[str, Any],
    figures: dict[str, Any],
) -> None:
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(result.config, resolve=True))
    predictions = result.customers.copy()
    if "segment" in predictions:
        predictions["segment"] = predictions["segment"].astype(str)
    predictions.to_csv(folder / "predictions.csv")
    if result.holdout is not None:
        result.holdout.to_csv(folder / "holdout_predictions.csv")
    for name, table in tables.items():
        table.to_csv(folder / f"{name}.csv")
    plots = folder / "plots"
    plots.mkdir()
    for name, figure in figures.items():
        figure.savefig(plots / f"{name}.png", dpi=110, bbox_inches="tight")
    if hasattr(result.estimator, "get_state"):
        state = result.estimator.get_state()
        (folder / "estimator_state.json").write_text(
            json.dumps(state, indent=2, default=str)
        )
    if callable(getattr(result.estimator, "artifacts", None)):
        _write_estimator_artifacts(result, folder / "estimator")
    if figures or tables:
        from clvframe.evaluation.report import build_html_report

        html = build_html_report(
            f"clvframe run: {result.config.estimator.name}",
            {**result.metrics},
            tables,
            figures,
        )
        (folder / "report.html").write_text(html)


def _write_estimator_artifacts(result: RunResult, folder: Path) -> None:
    """Write what the estimator's own ``artifacts(data)`` returns, and the model.

    Any estimator may define ``artifacts(data) -> dict[str, DataFrame | Figure]``
    (``data``: the data of the final fit); each table is written as
    ``<name>.csv`` and each figure as ``<name>.png`` under ``estimator/``,
    and the fitted estimator, as its ``save`` writes it, under
    ``estimator/saved/``.

    Raises:
        PluginContractError: ``artifacts`` returned something else.
    """
    import pandas as pd

    from clvframe.data.summary import CustomerData
    from clvframe.errors import PluginContractError

    options = result.config.data
    data = CustomerData.from_transactions(
        result.transactions,
        observation_end=options.observation_end,
        time_unit=str(options.time_unit),
        grain=str(options.grain),
        returns=str(options.returns),
        month_days=float(options.month_days),
    )
    folder.mkdir(parents=True, exist_ok=True)
    for name, item in result.estimator.artifacts(data).items():
        if isinstance(item, pd.DataFrame):
            item.to_csv(folder / f"{name}.csv")
        elif callable(getattr(item, "savefig", None)):
            item.savefig(folder / f"{name}.png", dpi=110, bbox_inches="tight")
        else:
            raise PluginContractError(
                f"estimator {result.estimator.name!r}: artifacts() returned "
                f"{type(item).__name__} for {name!r}; return DataFrames and "
                "matplotlib Figures only."
            )
    result.estimator.save(folder / "saved")
