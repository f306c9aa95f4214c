"""Finding the shipped configs, composing a run config, and checking it."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from hydra import compose
from hydra import initialize_config_dir
from omegaconf import DictConfig
from omegaconf import OmegaConf

from clvframe._plugins import ComponentRegistry
from clvframe.config.schema import register_configs
from clvframe.data.transactions import GRAINS
from clvframe.data.transactions import RETURN_POLICIES
from clvframe.data.units import unit_days
from clvframe.errors import ConfigError

CONFIG_NAME = "config"


def config_dir() -> Path:
    """Directory of the Hydra config groups.

    An installed wheel carries them as ``clvframe/conf``; a source checkout
    (an editable install) has them in the repository's ``conf/``.
    """
    packaged = Path(str(resources.files("clvframe"))) / "conf"
    if (packaged / f"{CONFIG_NAME}.yaml").is_file():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "conf"
    if (checkout / f"{CONFIG_NAME}.yaml").is_file():
        return checkout
    raise ConfigError(
        f"clvframe's configs were not found in {packaged} or {checkout}; "
        "reinstall clvframe."
    )


def plugin_config_dirs(extra_plugins: Sequence[object] = ()) -> list[str]:
    """Config folders offered by plugins through ``clvframe_config_dirs``."""
    from clvframe._plugins import build_plugin_manager

    pm = build_plugin_manager(extra_plugins=extra_plugins)
    folders = [
        str(Path(d).resolve()) for dirs in pm.hook.clvframe_config_dirs() for d in dirs
    ]
    missing = [d for d in folders if not Path(d).is_dir()]
    if missing:
        raise ConfigError(f"plugin config folders do not exist: {missing}.")
    return folders


def searchpath_override(folders: Sequence[str]) -> list[str]:
    """The Hydra override that adds plugin config folders to the search path."""
    if not folders:
        return []
    return ["hydra.searchpath=[" + ",".join(f"file://{d}" for d in folders) + "]"]


def compose_config(
    overrides: Sequence[str] = (), *, extra_plugins: Sequence[object] = ()
) -> DictConfig:
    """Compose the run config from the shipped configs and overrides.

    This is the notebook and test entry point; it writes no files and does not
    change the working directory. Config groups shipped by plugins (hook
    ``clvframe_config_dirs``) are on the search path.

    Args:
        overrides: Hydra overrides, as on the command line, e.g.
            ``["estimator=historic", "forecast.horizon=26"]``.
        extra_plugins: Plugin objects to consult for config folders.
    """
    register_configs()
    search = searchpath_override(plugin_config_dirs(extra_plugins))
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name=CONFIG_NAME, overrides=[*search, *overrides])


def _check_unit(problems: list[str], key: str, unit: str, month_days: float) -> None:
    try:
        unit_days(unit, month_days=month_days)
    except ConfigError as err:
        problems.append(f"{key}: {err}")


def validate_run_config(cfg: DictConfig, registry: ComponentRegistry) -> None:
    """Check names, ranges and units; report every problem in one error.

    Raises:
        ConfigError: Listing each problem with its key, what was given and
            what is allowed.
    """
    problems: list[str] = []
    for kind in ("loader", "estimator", "segmenter"):
        section = cfg.get(kind)
        if section is None:
            continue
        if section.name not in registry.components[kind]:
            problems.append(
                f"{kind}.name: {section.name!r} is not registered; choose one of "
                f"{registry.names(kind)}"
            )
    spend = cfg.estimator.params.get("spend_model")
    if spend is not None and spend not in registry.components["spend_model"]:
        problems.append(
            f"estimator.params.spend_model: {spend!r} is not registered; choose one "
            f"of {registry.names('spend_model')}"
        )
    for key, export in (cfg.get("export") or {}).items():
        name = export.get("name") if export is not None else None
        if name not in registry.components.get("exporter", {}):
            problems.append(
                f"export.{key}.name: {name!r} is not registered; choose one of "
                f"{registry.names('exporter')}"
            )
    ratio = OmegaConf.select(cfg, "acquisition.target_ratio", default=3.0)
    if not (isinstance(ratio, int | float) and ratio > 0):
        problems.append(f"acquisition.target_ratio: must be > 0; got {ratio!r}")
    data, forecast = cfg.data, cfg.forecast
    if data.grain not in GRAINS:
        problems.append(
            f"data.grain: must be one of {list(GRAINS)}; got {data.grain!r}"
        )
    if data.returns not in RETURN_POLICIES:
        problems.append(
            f"data.returns: must be one of {list(RETURN_POLICIES)}; "
            f"got {data.returns!r}"
        )
    if not data.month_days > 0:
        problems.append(f"data.month_days: must be > 0; got {data.month_days!r}")
    else:
        for key, unit in (
            ("data.time_unit", data.time_unit),
            ("forecast.horizon_unit", forecast.horizon_unit),
            ("forecast.discount_period", forecast.discount_period),
            ("forecast.discount_step", forecast.discount_step),
        ):
            _check_unit(problems, key, unit, data.month_days)
    if not forecast.horizon > 0:
        problems.append(f"forecast.horizon: must be > 0; got {forecast.horizon!r}")
    if not 0 <= forecast.margin <= 1:
        problems.append(
            f"forecast.margin: must be a share between 0 and 1; got {forecast.margin!r}"
        )
    if not forecast.discount_rate >= 0:
        problems.append(
            f"forecast.discount_rate: must be >= 0; got {forecast.discount_rate!r}"
        )
    if problems:
        count = len(problems)
        raise ConfigError(
            f"{count} problem{'s' if count > 1 else ''} in the run config:\n"
            + "\n".join(f"  - {p}." for p in problems)
        )


def flatten_config(
    cfg: DictConfig | dict[str, Any], prefix: str = ""
) -> dict[str, Any]:
    """Flatten a config into dotted keys (``forecast.horizon``), for MLflow params."""
    data = (
        OmegaConf.to_container(cfg, resolve=True)
        if isinstance(cfg, DictConfig)
        else cfg
    )
    flat: dict[str, Any] = {}
    for key, value in (data or {}).items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_config(value, prefix=f"{dotted}."))
        else:
            flat[dotted] = value
    return flat
