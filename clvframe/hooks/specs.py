"""Hook specifications: the contract between the CLV engine and its plugins.

Call hooks with keyword arguments only. A spec may gain new trailing arguments;
existing arguments are never renamed or removed. Registration hooks return a
list of classes, each with a unique ``name`` class attribute; the engine picks
one by that name from the run config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from clvframe.hooks.markers import hookspec

if TYPE_CHECKING:
    from clvframe.estimators.base import CLVEstimator
    from clvframe.experiment import RunResult
    from clvframe.exporters.base import Exporter
    from clvframe.loaders.base import Loader
    from clvframe.segmenters.base import Segmenter

# --- registration ------------------------------------------------------------


@hookspec
def clvframe_register_loaders() -> list[type[Loader]]:
    """Offer transaction loaders to the engine.

    Called once, when the plugin manager builds its component registry.

    Returns:
        Loader classes (subclasses of :class:`clvframe.loaders.base.Loader`).
        Their ``name`` is what ``loader.name`` selects in the config.
    """


@hookspec
def clvframe_register_estimators() -> list[type[CLVEstimator]]:
    """Offer CLV estimators to the engine.

    Called once, when the plugin manager builds its component registry.

    Returns:
        Estimator classes (subclasses of
        :class:`clvframe.estimators.base.CLVEstimator`). Their ``name`` is what
        ``estimator.name`` selects in the config.
    """


@hookspec
def clvframe_register_spend_models() -> list[type[Any]]:
    """Offer spend models, the components that predict the value of a purchase.

    A purchase model (BG/NBD, Pareto/NBD, ...) is paired with a spend model
    chosen by ``estimator.spend_model.name``.

    Returns:
        Spend model classes, each with a ``name`` and the methods of
        :class:`clvframe.estimators.spend.SpendModel`.
    """


@hookspec
def clvframe_register_segmenters() -> list[type[Segmenter]]:
    """Offer segmenters, which label customers from the forecast and summary.

    Returns:
        Segmenter classes (subclasses of
        :class:`clvframe.segmenters.base.Segmenter`). Their ``name`` is what
        ``segmenter.name`` selects in the config.
    """


@hookspec
def clvframe_register_exporters() -> list[type[Exporter]]:
    """Offer exporters, which send the customer list of chosen segments somewhere.

    Called once, when the plugin manager builds its component registry.

    Returns:
        Exporter classes (subclasses of
        :class:`clvframe.exporters.base.Exporter`). Their ``name`` is what
        ``export.<key>.name`` selects in the config (``export=csv``).
    """


@hookspec
def clvframe_config_dirs() -> list[str]:
    """Offer folders of Hydra config groups that a plugin ships.

    Called before the run config is composed. A folder holding
    ``estimator/myest.yaml`` lets users write ``clvframe run estimator=myest``,
    exactly as for the built-in components.

    Returns:
        Absolute paths of folders laid out like clvframe's ``conf/``.
    """


# --- run lifecycle -----------------------------------------------------------


@hookspec
def clvframe_after_fit(estimator: CLVEstimator, stage: str) -> None:
    """Called after an estimator is fitted.

    Args:
        estimator: The fitted estimator.
        stage: ``"calibration"`` for the fit on the calibration period,
            ``"full"`` for the refit on all data.
    """


@hookspec
def clvframe_after_run(result: RunResult) -> None:
    """Called once at the end of an experiment run, after tracking.

    Use it for reports, exports and notifications. The return value is ignored.
    """
