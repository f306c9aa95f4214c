"""Structured configs: the shape of a run's configuration.

YAML files in ``conf/`` hold values only; these dataclasses give them types so
that an unknown key or a wrong type fails when the config is composed.
Component settings (``loader.params``, ``estimator.params``, ...) are free
maps, checked against the chosen component's constructor at run time.
"""
# NB: typing.Optional/Dict/List rather than X | None: OmegaConf's support for
# PEP 604 unions in structured configs is incomplete (omry/omegaconf#144).
# ruff: noqa: UP006, UP007, UP035, UP045

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Dict
from typing import List
from typing import Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class ComponentConfig:
    """A component chosen by registered name, with its constructor params."""

    name: str = MISSING
    params: Dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    """How the log becomes customer summaries."""

    grain: str = "day"
    returns: str = "net"
    time_unit: str = "week"
    month_days: float = 365.25 / 12
    observation_end: Optional[str] = None


@dataclass
class SplitConfig:
    """Where the calibration period ends and the holdout begins."""

    calibration_end: Optional[str] = "1997-09-30"


@dataclass
class ForecastConfig:
    """Horizon, margin and discounting of the CLV forecast."""

    horizon: float = 52.0
    horizon_unit: str = "week"
    margin: float = 1.0
    discount_rate: float = 0.10
    discount_period: str = "year"
    discount_step: str = "month"


@dataclass
class TrackingConfig:
    """Where and whether runs are tracked in MLflow."""

    enabled: bool = True
    tracking_uri: Optional[str] = None
    experiment: str = "clvframe"
    run_name: Optional[str] = None
    log_model: bool = True


@dataclass
class AcquisitionConfig:
    """The acquisition budget: what winning one new customer may cost."""

    target_ratio: float = 3.0


@dataclass
class PluginsConfig:
    """Which plugins load."""

    disabled: List[str] = field(default_factory=list)
    strict: bool = True
    autoload: bool = True


@dataclass
class RunConfig:
    """One experiment: data, split, estimator, segmenter, forecast, tracking."""

    loader: ComponentConfig = MISSING
    estimator: ComponentConfig = MISSING
    segmenter: Optional[ComponentConfig] = None
    data: DataConfig = field(default_factory=DataConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    plugins: PluginsConfig = field(default_factory=PluginsConfig)
    export: Optional[Dict[str, Any]] = None
    acquisition: AcquisitionConfig = field(default_factory=AcquisitionConfig)


def register_configs() -> None:
    """Store the schema in Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="clvframe_schema", node=RunConfig)
