"""Running the configured exports: at the end of ``clvframe run`` and of scoring.

The config's ``export`` section maps a key to an exporter
(``export=csv`` gives ``export: {csv: {name: csv, params: {...}}}``;
``export=[csv,sql]`` gives both). :func:`run_exports` runs them on any
per-customer frame; this module's ``clvframe_after_run`` hook runs them on the
forecast of a finished experiment.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import pandas as pd
from omegaconf import DictConfig
from omegaconf import ListConfig
from omegaconf import OmegaConf

from clvframe.errors import ConfigError
from clvframe.exporters.base import ExportResult
from clvframe.hooks import hookimpl

if TYPE_CHECKING:
    from clvframe._plugins import ComponentRegistry
    from clvframe.experiment import RunResult

logger = logging.getLogger(__name__)


def export_specs(exports: Any) -> list[tuple[str, dict[str, Any]]]:
    """Normalise an export setting into ``(key, {name, params})`` pairs.

    Accepts ``None`` (no export), one exporter (``{name: csv, params: {...}}``),
    a mapping of keys to exporters (the config's ``export`` section), a list
    of exporters, or a whole run config (its ``export`` section is used).

    Raises:
        ConfigError: An entry is not an exporter spec.
    """
    if isinstance(exports, DictConfig | ListConfig):
        exports = OmegaConf.to_container(exports, resolve=True)
    if exports is None:
        return []
    if isinstance(exports, Mapping) and "export" in exports and "name" not in exports:
        return export_specs(exports["export"])
    if isinstance(exports, Mapping) and "name" in exports:
        items: list[tuple[str, Any]] = [(str(exports["name"]), exports)]
    elif isinstance(exports, Mapping):
        items = [(str(k), v) for k, v in exports.items()]
    elif isinstance(exports, Sequence) and not isinstance(exports, str):
        items = [(str(i), v) for i, v in enumerate(exports)]
    else:
        raise ConfigError(
            f"export: must be an exporter {{name: ..., params: {{...}}}}, a list or a "
            f"mapping of them; got {exports!r}."
        )
    specs = []
    for key, spec in items:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            raise ConfigError(
                f"export.{key}: must be an exporter as {{name: ..., params: {{...}}}}, "
                f"e.g. choose one with export=csv; got {spec!r}."
            )
        specs.append(
            (key, {"name": spec["name"], "params": dict(spec.get("params") or {})})
        )
    return specs


def run_exports(
    customers: pd.DataFrame,
    exports: Any,
    *,
    registry: ComponentRegistry | None = None,
) -> list[ExportResult]:
    """Run exporters on a per-customer frame.

    This is what ``clvframe run`` does at its end; ``clvframe score`` calls it
    on the scored customers.

    Args:
        customers: One row per customer (``customer_id`` as index or column)
            with ``clv`` and, where known, ``segment``, ``tier``, ``p_alive``.
        exports: The run config's ``export`` section, a list of
            ``{name, params}``, one such mapping, a whole run config, or
            ``None`` (nothing is exported).
        registry: Where to find exporters by name; built-ins and installed
            plugins when ``None``.

    Returns:
        One result per exporter, in config order.

    Raises:
        ConfigError: An exporter name is not registered or its parameters are
            wrong.
    """
    specs = export_specs(exports)
    if not specs:
        return []
    if registry is None:
        from clvframe._plugins import build_registry

        registry = build_registry()
    exporters = [
        registry.get(
            "exporter", spec["name"], key=f"export.{key}.name"
        ).cls.from_config(spec["params"])
        for key, spec in specs
    ]
    return [exporter.export(customers) for exporter in exporters]


def _export_frame(result: RunResult) -> pd.DataFrame:
    """The run's customers, with the segmenter's scores (R, F, M) if it has them."""
    customers = result.customers
    scorer = getattr(result.segmenter, "scores", None)
    if scorer is None:
        return customers
    scores = scorer(customers)
    if scores is None:
        return customers
    return customers.join(scores[[c for c in scores if c not in customers]])


@hookimpl
def clvframe_after_run(result: RunResult) -> None:
    """Run the exports chosen in the config (``export=...``) on the forecast."""
    exports = result.config.get("export")
    if not export_specs(exports):
        return
    registry = getattr(result, "registry", None)
    if registry is None:
        from clvframe._plugins import build_registry

        plugins = result.config.plugins
        registry = build_registry(
            disabled=plugins.disabled, autoload=plugins.autoload, strict=plugins.strict
        )
    done = run_exports(_export_frame(result), exports, registry=registry)
    result.info["exports"] = [
        f"{r.exporter}: {r.rows} rows to {r.location}" for r in done
    ]
