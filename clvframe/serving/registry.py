"""Registering clvframe models in the MLflow model registry, and promoting them.

A run logged with ``tracking.log_model=true`` carries its pyfunc model (the
run tag ``clvframe.model_uri`` points at it). :func:`register_run` registers
it under a name; :func:`register_best` picks the best such run of an
experiment by a metric first. Each version is tagged with the run's metrics
(``metric.<name>``) and resolved config (``config.<key>``). Versions are
promoted by moving an alias (``champion``, ``challenger``), never by the
deprecated stages; ``models:/NAME@champion`` then loads the promoted version.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from clvframe.errors import ClvframeError
from clvframe.errors import ConfigError
from clvframe.evaluation.compare import metric_direction
from clvframe.serving.pyfunc import MODEL_ARTIFACT_NAME
from clvframe.serving.pyfunc import MODEL_URI_TAG
from clvframe.tracking.mlflow import resolve_tracking_uri

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

DIRECTIONS = ("lower", "higher", "zero")
_MAX_TAG_VALUE = 5000
_RESERVED_ALIASES = ("latest",)

logger = logging.getLogger(__name__)


class RegistryError(ClvframeError):
    """A run, a model version or an experiment could not be found or used."""


@dataclass(frozen=True)
class Registered:
    """A registered model version and where it came from."""

    name: str
    version: str
    run_id: str
    source: str
    metric: str | None = None
    metric_value: float | None = None

    @property
    def uri(self) -> str:
        """The version's URI, e.g. ``models:/clv/3``."""
        return f"models:/{self.name}/{self.version}"


def _client(tracking_uri: str | None) -> MlflowClient:
    from mlflow import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def register_run(
    run_id: str,
    name: str,
    *,
    tracking_uri: str | None = None,
    description: str | None = None,
) -> Registered:
    """Register the model of one run as a new version of ``name``.

    Args:
        run_id: A run logged with ``tracking.log_model=true``.
        name: Registered model name (created if new).
        tracking_uri: Tracking store; config default, then
            ``MLFLOW_TRACKING_URI``, then ./mlflow.db.
        description: Description of the new version.

    Raises:
        RegistryError: The run does not exist or logged no clvframe model.
    """
    client = _client(tracking_uri)
    run = _get_run(client, run_id)
    return _register(client, run, name, description=description)


def register_best(
    experiment: str,
    metric: str,
    name: str,
    *,
    direction: str | None = None,
    tracking_uri: str | None = None,
) -> Registered:
    """Register the model of an experiment's best run by ``metric``.

    Only runs that logged a clvframe model and the metric take part.

    Args:
        experiment: MLflow experiment name.
        metric: The metric to rank on, e.g. ``holdout_spend_mae``.
        name: Registered model name.
        direction: ``lower``, ``higher`` or ``zero`` (closest to zero); by
            default the metric's known direction
            (:data:`clvframe.evaluation.compare.METRIC_DIRECTION`).
        tracking_uri: Tracking store.

    Raises:
        ConfigError: The metric's direction is unknown and not given.
        RegistryError: No run of the experiment has a model and the metric.
    """
    client = _client(tracking_uri)
    run, value = best_run(client, experiment, metric, direction=direction)
    registered = _register(client, run, name, description=None)
    logger.debug(
        "Best run of %r by %s: %s (%s = %g)",
        experiment,
        metric,
        run.info.run_id,
        metric,
        value,
    )
    return Registered(
        registered.name,
        registered.version,
        registered.run_id,
        registered.source,
        metric=metric,
        metric_value=value,
    )


def best_run(
    client: MlflowClient, experiment: str, metric: str, *, direction: str | None = None
) -> tuple[Run, float]:
    """The run of ``experiment`` with the best ``metric`` among runs with a model.

    Ties go to the most recent run.

    Returns:
        The run and its metric value.
    """
    chosen = direction or metric_direction(metric)
    if chosen not in DIRECTIONS:
        raise ConfigError(
            f"metric {metric!r}: which way it is better is not known; pass a "
            f"direction, one of {list(DIRECTIONS)}."
        )
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = sorted(e.name for e in client.search_experiments())
        raise RegistryError(f"experiment {experiment!r} does not exist; have {names}.")
    runs = client.search_runs(
        [found.experiment_id], max_results=5000, order_by=["attributes.start_time DESC"]
    )
    candidates = [
        r
        for r in runs
        if MODEL_URI_TAG in r.data.tags
        and metric in r.data.metrics
        and math.isfinite(r.data.metrics[metric])
    ]
    if not candidates:
        with_model = sum(MODEL_URI_TAG in r.data.tags for r in runs)
        raise RegistryError(
            f"experiment {experiment!r}: none of its {len(runs)} runs has both a "
            f"logged model ({with_model} have one; run with tracking.log_model=true) "
            f"and the metric {metric!r}."
        )

    def score(run: Run) -> float:
        value = run.data.metrics[metric]
        return {"lower": value, "higher": -value, "zero": abs(value)}[chosen]

    best = min(candidates, key=score)
    return best, float(best.data.metrics[metric])


def promote(
    name: str,
    version: str | int,
    alias: str = "champion",
    *,
    tracking_uri: str | None = None,
) -> str | None:
    """Point ``alias`` of a registered model at ``version``.

    Args:
        name: Registered model name.
        version: The version to promote.
        alias: ``champion``, ``challenger`` or any other alias.
        tracking_uri: Tracking store.

    Returns:
        The version the alias pointed at before, or ``None``.

    Raises:
        RegistryError: The model or the version does not exist, or the alias
            is reserved.
    """
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    if alias.lower() in _RESERVED_ALIASES or (
        alias[:1] in "vV" and alias[1:].isdigit()
    ):
        raise RegistryError(
            f"alias {alias!r} is reserved by MLflow; use a name such as 'champion' "
            "or 'challenger'."
        )
    _check_version(client, name, str(version))
    previous = None
    try:
        previous = str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        previous = None
    client.set_registered_model_alias(name, alias, str(version))
    logger.debug("models:/%s@%s -> version %s (was %s)", name, alias, version, previous)
    return previous


def _check_version(client: MlflowClient, name: str, version: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version(name, version)
    except MlflowException:
        try:
            versions = sorted(
                (v.version for v in client.search_model_versions(f"name = '{name}'")),
                key=int,
            )
        except MlflowException:
            versions = []
        if not versions:
            raise RegistryError(
                f"registered model {name!r} does not exist or has no versions; "
                "register one with `clvframe register`."
            ) from None
        raise RegistryError(
            f"registered model {name!r} has no version {version!r}; it has {versions}."
        ) from None


def _get_run(client: MlflowClient, run_id: str) -> Run:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as err:
        raise RegistryError(
            f"run {run_id!r} was not found in {client.tracking_uri}: {err.message}"
        ) from None


def _register(
    client: MlflowClient, run: Run, name: str, *, description: str | None
) -> Registered:
    from mlflow.exceptions import MlflowException

    run_id = run.info.run_id
    source = run.data.tags.get(MODEL_URI_TAG)
    if not source:
        raise RegistryError(
            f"run {run_id} logged no clvframe model; run the experiment with "
            "tracking.log_model=true."
        )
    try:
        client.create_registered_model(name)
    except MlflowException as err:
        if err.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    model_id = (
        source.removeprefix("models:/") if source.startswith("models:/m-") else None
    )
    version = client.create_model_version(
        name,
        source=source,
        run_id=run_id,
        tags=version_tags(run),
        description=description,
        model_id=model_id,
    )
    logger.debug("Registered run %s as %s version %s", run_id, name, version.version)
    return Registered(name, str(version.version), run_id, source)


def version_tags(run: Run) -> dict[str, str]:
    """Tags of a model version: the run's metrics, config and provenance."""
    tags = {
        "clvframe.run_id": run.info.run_id,
        "clvframe.experiment_id": run.info.experiment_id,
        "clvframe.model_artifact": MODEL_ARTIFACT_NAME,
    }
    for key in ("clvframe.estimator", "clvframe.version", "clvframe.config_hash"):
        if key in run.data.tags:
            tags[key] = run.data.tags[key]
    for key, value in run.data.metrics.items():
        tags[f"metric.{key}"] = repr(float(value))
    for key, value in run.data.params.items():
        tags[f"config.{key}"] = str(value)[:_MAX_TAG_VALUE]
    return tags
