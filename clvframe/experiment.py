"""One experiment, end to end: load, split, fit, evaluate, forecast, segment, track.

This is what ``clvframe run`` does. From a notebook::

    import clvframe
    result = clvframe.run_experiment(["estimator=historic", "forecast.horizon=26"])
    result.metrics, result.segment_table, result.customers
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig
from omegaconf import OmegaConf

from clvframe._plugins import ComponentRegistry
from clvframe._plugins import build_plugin_manager
from clvframe.acquisition import add_acquisition_budget
from clvframe.config.compose import compose_config
from clvframe.config.compose import validate_run_config
from clvframe.data.summary import CustomerData
from clvframe.data.summary import calibration_and_holdout
from clvframe.errors import IdentificationError
from clvframe.estimators.base import CLVEstimator
from clvframe.estimators.valuation import Valuation
from clvframe.evaluation.metrics import fit_metrics
from clvframe.evaluation.metrics import holdout_metrics
from clvframe.segmenters.base import Segmenter
from clvframe.segmenters.base import segment_table

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    """Everything one experiment produced.

    Attributes:
        config: The resolved run config.
        metrics: Holdout metrics (empty without a holdout) and fit metrics.
        holdout: Per customer known at the cutoff: holdout actuals beside the
            calibration model's predictions for the holdout period.
        customers: Per customer, on all data: summary, forecast over the
            horizon, ``historic_clv`` and ``segment``.
        segment_table: Customers, share and CLV per segment.
        estimator: The estimator refitted on all data.
        calibration_estimator: The estimator fitted on the calibration period.
        transactions: The validated log.
        run_id: The MLflow run, when tracked.
        tracking_uri: Where the run was tracked.
        experiment_id: The MLflow experiment of the run.
        info: Counts and timings worth reporting.
        tables: Further tables to log, by name (the acquisition cohorts).
        registry: The components the run could choose from (for exporters).
    """

    config: DictConfig
    metrics: dict[str, float]
    holdout: pd.DataFrame | None
    customers: pd.DataFrame
    segment_table: pd.DataFrame | None
    estimator: CLVEstimator
    calibration_estimator: CLVEstimator | None
    transactions: pd.DataFrame
    segmenter: Segmenter | None = None
    run_id: str | None = None
    tracking_uri: str | None = None
    experiment_id: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    registry: ComponentRegistry | None = None


def valuation_from_config(cfg: DictConfig) -> Valuation:
    """The margin and discounting settings of a run config."""
    return Valuation(
        margin=float(cfg.forecast.margin),
        discount_rate=float(cfg.forecast.discount_rate),
        discount_period=str(cfg.forecast.discount_period),
        discount_step=str(cfg.forecast.discount_step),
        month_days=float(cfg.data.month_days),
    ).check()


def make_estimator(cfg: DictConfig, registry: ComponentRegistry) -> CLVEstimator:
    """Build the configured estimator, resolving its spend model by name."""
    component = registry.get("estimator", cfg.estimator.name)
    params = dict(OmegaConf.to_container(cfg.estimator.params, resolve=True) or {})
    spend_name = params.pop("spend_model", None)
    if spend_name is not None:
        spend_params = params.pop("spend_params", None) or {}
        spend_cls = registry.get(
            "spend_model", spend_name, key="estimator.params.spend_model"
        ).cls
        params["spend_model"] = spend_cls.from_config(dict(spend_params))
    return component.cls.from_config(params)


def make_segmenter(cfg: DictConfig, registry: ComponentRegistry) -> Segmenter | None:
    """Build the configured segmenter, if any."""
    if cfg.get("segmenter") is None:
        return None
    component = registry.get("segmenter", cfg.segmenter.name)
    params = OmegaConf.to_container(cfg.segmenter.params, resolve=True) or {}
    return component.cls.from_config(dict(params))


def load_transactions(cfg: DictConfig, registry: ComponentRegistry) -> pd.DataFrame:
    """Load and validate the configured log."""
    component = registry.get("loader", cfg.loader.name)
    params = OmegaConf.to_container(cfg.loader.params, resolve=True) or {}
    return component.cls.from_config(dict(params)).load()


def _data_options(cfg: DictConfig) -> dict[str, Any]:
    return {
        "time_unit": str(cfg.data.time_unit),
        "grain": str(cfg.data.grain),
        "returns": str(cfg.data.returns),
        "month_days": float(cfg.data.month_days),
    }


def _evaluate_holdout(
    cfg: DictConfig,
    registry: ComponentRegistry,
    transactions: pd.DataFrame,
    pm: Any,
) -> tuple[pd.DataFrame, dict[str, float], CLVEstimator, dict[str, Any]]:
    options = _data_options(cfg)
    frame = calibration_and_holdout(
        transactions,
        calibration_end=cfg.split.calibration_end,
        observation_end=cfg.data.observation_end,
        **options,
    )
    cutoff = frame.attrs["calibration_end"]
    calibration = CustomerData(
        summary=frame,
        transactions=transactions[
            transactions["timestamp"] < cutoff + pd.Timedelta(days=1)
        ],
        observation_end=cutoff,
        **options,
    )
    estimator = make_estimator(cfg, registry).fit(calibration)
    pm.hook.clvframe_after_fit(estimator=estimator, stage="calibration")
    duration = float(frame["duration_holdout"].iloc[0])
    predicted = estimator.predict(
        calibration,
        horizon=duration,
        horizon_unit=options["time_unit"],
        valuation=valuation_from_config(cfg),
    )
    check_finite_forecast(predicted, estimator)
    holdout = frame.join(predicted)
    metrics = holdout_metrics(holdout)
    if hasattr(estimator, "log_likelihood_"):
        metrics.update(
            fit_metrics(estimator.log_likelihood_, len(estimator.params_), len(frame))
        )
    info = {
        "calibration_end": str(cutoff.date()),
        "holdout_customers": len(frame),
        "holdout_new_customers": frame.attrs["n_new_in_holdout"],
        "holdout_duration": duration,
    }
    return holdout, metrics, estimator, info


def check_finite_forecast(forecast: pd.DataFrame, estimator: CLVEstimator) -> None:
    """Refuse a forecast with NaN or infinite purchases or CLV.

    That happens when a fit ran a parameter to a bound (a BoundaryWarning
    says which): the data cannot identify the model.

    Raises:
        IdentificationError: Naming the estimator, the count and the first
            customer, with the fitted parameters and a remedy.
    """
    values = forecast[["expected_purchases", "clv"]].to_numpy(dtype="float64")
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        params = getattr(estimator, "params_", {})
        shown = ", ".join(f"{k}={v:.4g}" for k, v in params.items())
        raise IdentificationError(
            f"{estimator.name}: the forecast is not finite for {int(bad.sum())} "
            f"customers (first: {forecast.index[bad][0]!r}); the fitted "
            f"parameters ({shown}) ran towards a bound, so this data cannot "
            "identify the model. Set estimator.params.penalizer (e.g. 0.01), use "
            "a longer log, or choose another estimator."
        )


def run_experiment(
    config: DictConfig | Sequence[str] | None = None,
    *,
    extra_plugins: Sequence[object] = (),
    track: bool | None = None,
) -> RunResult:
    """Run one experiment from a config or from overrides.

    Args:
        config: A composed run config, or a list of Hydra overrides applied to
            the shipped defaults (``None`` for the defaults).
        extra_plugins: Plugin objects to register for this run (notebooks).
        track: Override ``tracking.enabled``.

    Returns:
        Everything the run produced; see :class:`RunResult`.
    """
    started = time.perf_counter()
    cfg = (
        config
        if isinstance(config, DictConfig)
        else compose_config(config or (), extra_plugins=extra_plugins)
    )
    pm = build_plugin_manager(
        disabled=cfg.plugins.disabled,
        autoload=cfg.plugins.autoload,
        strict=cfg.plugins.strict,
        extra_plugins=extra_plugins,
    )
    registry = ComponentRegistry.from_plugin_manager(pm)
    validate_run_config(cfg, registry)
    valuation = valuation_from_config(cfg)

    transactions = load_transactions(cfg, registry)
    holdout, metrics, calibration_estimator, info = None, {}, None, {}
    if cfg.split.calibration_end is not None:
        holdout, metrics, calibration_estimator, info = _evaluate_holdout(
            cfg, registry, transactions, pm
        )

    full = CustomerData.from_transactions(
        transactions, observation_end=cfg.data.observation_end, **_data_options(cfg)
    )
    estimator = make_estimator(cfg, registry).fit(full)
    pm.hook.clvframe_after_fit(estimator=estimator, stage="full")
    forecast = estimator.predict(
        full,
        horizon=float(cfg.forecast.horizon),
        horizon_unit=str(cfg.forecast.horizon_unit),
        valuation=valuation,
    )
    check_finite_forecast(forecast, estimator)
    customers = full.summary.join(forecast)
    customers["historic_clv"] = customers["total_spend"] * valuation.margin
    segmenter = make_segmenter(cfg, registry)
    table = None
    if segmenter is not None:
        customers["segment"] = segmenter.assign(customers)
        table = segment_table(customers, customers["segment"])

    info.update(
        customers=len(customers),
        rows=len(transactions),
        observation_end=str(full.observation_end.date())
        if full.observation_end
        else None,
        fit_seconds=round(time.perf_counter() - started, 3),
    )
    result = RunResult(
        config=cfg,
        metrics=metrics,
        holdout=holdout,
        customers=customers,
        segment_table=table,
        estimator=estimator,
        calibration_estimator=calibration_estimator,
        transactions=transactions,
        segmenter=segmenter,
        info=info,
        registry=registry,
    )
    add_acquisition_budget(result)
    if cfg.tracking.enabled if track is None else track:
        from clvframe.tracking.mlflow import log_run

        log_run(result, pm)
    pm.hook.clvframe_after_run(result=result)
    result.info["wall_seconds"] = round(time.perf_counter() - started, 3)
    return result
