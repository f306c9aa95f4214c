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

from clvframe._plugins import ComponentRegistry
from clvframe._plugins import build_plugin_manager
from clvframe._plugins import build_registry
from clvframe.config.compose import compose_config
from clvframe.data.summary import CustomerData
from clvframe.data.summary import calibration_and_holdout
from clvframe.data.summary import check_summary
from clvframe.data.summary import summarise
from clvframe.data.transactions import Source
from clvframe.data.transactions import prepare_transactions
from clvframe.data.transactions import purchase_periods
from clvframe.errors import ClvframeError
from clvframe.errors import ConfigError
from clvframe.errors import ConvergenceError
from clvframe.errors import DataValidationError
from clvframe.errors import DataWarning
from clvframe.errors import NotFittedError
from clvframe.errors import PluginLoadError
from clvframe.estimators.base import CLVEstimator
from clvframe.estimators.base import check_is_fitted
from clvframe.estimators.historic import HistoricEstimator
from clvframe.estimators.probabilistic import BetaGeoEstimator
from clvframe.estimators.spend import GammaGammaSpend
from clvframe.estimators.spend import MeanSpend
from clvframe.estimators.valuation import Valuation
from clvframe.experiment import RunResult
from clvframe.experiment import run_experiment
from clvframe.hooks import hookimpl
from clvframe.loaders.cdnow import load_cdnow
from clvframe.segmenters.base import segment_table
from clvframe.segmenters.tiers import ValueTiers

__all__ = [
    "BetaGeoEstimator",
    "CLVEstimator",
    "ClvframeError",
    "ComponentRegistry",
    "ConfigError",
    "ConvergenceError",
    "CustomerData",
    "DataValidationError",
    "DataWarning",
    "GammaGammaSpend",
    "HistoricEstimator",
    "MeanSpend",
    "NotFittedError",
    "PluginLoadError",
    "RunResult",
    "Source",
    "Valuation",
    "ValueTiers",
    "build_plugin_manager",
    "build_registry",
    "calibration_and_holdout",
    "check_is_fitted",
    "check_summary",
    "compose_config",
    "hookimpl",
    "load_cdnow",
    "prepare_transactions",
    "purchase_periods",
    "run_experiment",
    "segment_table",
    "summarise",
]
