"""clvframe: customer lifetime value, from a transaction log to a served model.

The notebook API uses the same names as the CLI and the configs::

    import clvframe

    log = clvframe.load_cdnow()                        # or a loader, or your frame
    data = clvframe.CustomerData.from_transactions(log, time_unit="week")
    model = clvframe.BetaGeoEstimator().fit(data)
    forecast = model.predict(data, horizon=52)
    tiers = clvframe.ValueTiers().assign(forecast)

    result = clvframe.run_experiment(["estimator=historic"])   # a whole run
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

# Names are imported on first use (PEP 562), so that `import clvframe` and its
# submodules stay cheap: a scoring job need not load Hydra or MLflow.
_EXPORTS = {
    "ComponentRegistry": "clvframe._plugins",
    "build_plugin_manager": "clvframe._plugins",
    "build_registry": "clvframe._plugins",
    "compose_config": "clvframe.config.compose",
    "CustomerData": "clvframe.data.summary",
    "calibration_and_holdout": "clvframe.data.summary",
    "check_summary": "clvframe.data.summary",
    "summarise": "clvframe.data.summary",
    "Source": "clvframe.data.transactions",
    "prepare_transactions": "clvframe.data.transactions",
    "purchase_periods": "clvframe.data.transactions",
    "ClvframeError": "clvframe.errors",
    "ConfigError": "clvframe.errors",
    "ConvergenceError": "clvframe.errors",
    "DataValidationError": "clvframe.errors",
    "DataWarning": "clvframe.errors",
    "NotFittedError": "clvframe.errors",
    "PluginLoadError": "clvframe.errors",
    "CLVEstimator": "clvframe.estimators.base",
    "check_is_fitted": "clvframe.estimators.base",
    "HistoricEstimator": "clvframe.estimators.historic",
    "BetaGeoEstimator": "clvframe.estimators.probabilistic",
    "GammaGammaSpend": "clvframe.estimators.spend",
    "MeanSpend": "clvframe.estimators.spend",
    "Valuation": "clvframe.estimators.valuation",
    "RunResult": "clvframe.experiment",
    "run_experiment": "clvframe.experiment",
    "hookimpl": "clvframe.hooks",
    "load_cdnow": "clvframe.loaders.cdnow",
    "segment_table": "clvframe.segmenters.base",
    "ValueTiers": "clvframe.segmenters.tiers",
}

__all__ = sorted(_EXPORTS)
__version__ = importlib.metadata.version("clvframe")


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'clvframe' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
