"""Spend models: the expected value of a customer's future purchases.

A purchase model (BG/NBD, Pareto/NBD, ...) forecasts how often a customer
buys; a spend model forecasts how much each purchase is worth. Spend models
are registered components, chosen by ``estimator.params.spend_model``.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any
from typing import ClassVar
from typing import Self

import numpy as np
import pandas as pd

from clvframe._component import Component
from clvframe.errors import ConfigError
from clvframe.errors import DataValidationError
from clvframe.errors import DataWarning
from clvframe.estimators.base import check_is_fitted
from clvframe.hooks import hookimpl
from clvframe.models.gamma_gamma import GammaGammaModel

logger = logging.getLogger(__name__)


class SpendModel(Component):
    """Contract of a spend model.

    ``fit(summary)`` learns from a customer summary with ``frequency`` and
    ``monetary_value``; ``expected_spend(summary)`` returns the expected value
    of each customer's future purchases. ``get_state``/``set_state`` hold the
    fitted parameters as plain data.
    """

    params_key: ClassVar[str] = "estimator.params.spend_params"

    def fit(self, summary: pd.DataFrame) -> Self:
        """Fit on a customer summary; return ``self``."""
        raise NotImplementedError

    def expected_spend(self, summary: pd.DataFrame) -> np.ndarray:
        """Expected amount of each customer's future purchases."""
        raise NotImplementedError

    def get_state(self) -> dict[str, Any]:
        """Fitted parameters as plain data."""
        raise NotImplementedError

    def set_state(self, state: dict[str, Any]) -> Self:
        """Restore what :meth:`get_state` returned."""
        raise NotImplementedError


def _repeat_buyers_columns(summary: pd.DataFrame) -> None:
    for column in ("frequency", "monetary_value"):
        if column not in summary.columns:
            raise DataValidationError(
                f"summary: column {column!r} is needed to fit a spend model."
            )


def _repeat_buyers(summary: pd.DataFrame) -> pd.DataFrame:
    _repeat_buyers_columns(summary)
    return summary[summary["frequency"] > 0]


def _check_finite_spend(
    monetary: np.ndarray, ids: pd.Index, rows: np.ndarray | bool = True
) -> None:
    """Refuse repeat buyers (``rows``) whose mean amount is missing or infinite."""
    _refuse_rows(
        rows & ~np.isfinite(monetary),
        ids,
        "have a monetary_value that is missing or infinite",
    )


def _refuse_rows(bad: np.ndarray, ids: pd.Index, what: str) -> None:
    """Raise naming the count and first ids of the ``bad`` repeat buyers.

    The ids are looked up only on error: scoring a million customers should
    not copy their index to check it.
    """
    if bad.any():
        raise DataValidationError(
            f"summary: {int(bad.sum())} repeat buyers {what} "
            f"(first: {list(ids[bad][:3])})."
        )


def _drop(keep: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Clear, in the mask ``keep``, the kept rows that ``bad`` (over them) marks."""
    keep = keep.copy()
    keep[np.flatnonzero(keep)[bad]] = False
    return keep


class GammaGammaSpend(SpendModel):
    """Gamma-Gamma spend model (Fader, Hardie and Lee), fitted on repeat buyers.

    Args:
        penalizer: L2 penalty on the log-parameters (0 for the exact MLE).
        nonpositive: What to do with repeat buyers whose mean repeat amount is
            not positive (zero-dollar orders, or returns under some policies):
            ``"error"`` lists them; ``"exclude"`` leaves them out of the fit
            with a warning that counts them (they are still scored).
    """

    name = "gamma_gamma"

    def __init__(self, penalizer: float = 0.0, nonpositive: str = "error") -> None:
        self.penalizer = penalizer
        self.nonpositive = nonpositive

    def fit(self, summary: pd.DataFrame) -> Self:
        """Fit on the customers with at least one repeat purchase."""
        if self.nonpositive not in ("error", "exclude"):
            raise ConfigError(
                "estimator.params.spend_params.nonpositive: must be 'error' or "
                f"'exclude'; got {self.nonpositive!r}."
            )
        _repeat_buyers_columns(summary)
        # Arrays, not a filtered copy of the frame: a million-row summary
        # with its string index costs more to copy than to fit on.
        frequency = summary["frequency"].to_numpy()
        keep = frequency > 0
        monetary = summary["monetary_value"].to_numpy()[keep]
        ids = summary.index[keep]
        _check_finite_spend(monetary, ids)
        bad = monetary <= 0
        if bad.any() and self.nonpositive == "exclude":
            warnings.warn(
                f"gamma_gamma: {int(bad.sum())} repeat buyers with a mean repeat "
                f"amount <= 0 (first: {list(ids[bad][:3])}) are left out of "
                "the spend model's fit; they are still scored.",
                DataWarning,
                stacklevel=2,
            )
            ids, monetary, keep = ids[~bad], monetary[~bad], _drop(keep, bad)
        elif bad.any():
            raise DataValidationError(
                f"gamma_gamma: {int(bad.sum())} repeat buyers have a mean repeat "
                f"amount <= 0 (first: {list(ids[bad][:3])}), which Gamma-Gamma "
                "cannot fit (zero-amount orders, or returns). Leave them out of the "
                "spend fit with GammaGammaSpend(nonpositive='exclude') "
                "(estimator.params.spend_params.nonpositive=exclude), or choose "
                "another spend model."
            )
        logger.info(
            "Fitting gamma_gamma on %d repeat buyers (of %d customers)",
            len(monetary),
            len(summary),
        )
        self.model_ = GammaGammaModel(penalizer=self.penalizer).fit(
            frequency[keep],
            monetary,
            customer_ids=ids,
        )
        self.params_ = dict(self.model_.params_)
        return self

    def expected_spend(self, summary: pd.DataFrame) -> np.ndarray:
        """Conditional expected spend; the population mean for frequency 0."""
        check_is_fitted(self)
        frequency = summary["frequency"].to_numpy(dtype="float64")
        monetary = summary["monetary_value"].to_numpy(dtype="float64")
        repeat = frequency > 0
        _check_finite_spend(monetary, summary.index, repeat)
        _refuse_rows(
            repeat & (monetary < 0),
            summary.index,
            "have a negative monetary_value",
        )
        try:
            spend = self.model_.conditional_expected_spend(frequency, monetary)
        except ValueError as err:
            # q <= 1: the fitted spend distribution has no mean, which a few
            # extreme amounts can cause.
            raise DataValidationError(
                f"{err} Check the largest amounts in the log, or use "
                "estimator.params.spend_model=mean."
            ) from err
        return np.asarray(spend, dtype="float64")

    def get_state(self) -> dict[str, Any]:
        """Fitted parameters as plain data."""
        check_is_fitted(self)
        return {"params": dict(self.params_)}

    def set_state(self, state: dict[str, Any]) -> Self:
        """Restore the fitted parameters."""
        self.model_ = GammaGammaModel.from_params(state["params"])
        self.params_ = dict(self.model_.params_)
        return self


class MeanSpend(SpendModel):
    """Each customer's own mean repeat amount; the population mean without one.

    A simple, assumption-free alternative to Gamma-Gamma, useful where spend
    and purchase frequency are correlated.
    """

    name = "mean"

    def __init__(self) -> None:
        pass

    def fit(self, summary: pd.DataFrame) -> Self:
        """Learn the population mean of repeat amounts."""
        repeat = _repeat_buyers(summary)
        if repeat.empty:
            raise DataValidationError(
                "mean spend: no customer has a repeat purchase, so there is no "
                "repeat amount to learn from."
            )
        weights = repeat["frequency"].to_numpy(dtype="float64")
        values = repeat["monetary_value"].to_numpy(dtype="float64")
        self.population_mean_ = float(np.average(values, weights=weights))
        return self

    def expected_spend(self, summary: pd.DataFrame) -> np.ndarray:
        """Own mean where known, the population mean otherwise."""
        check_is_fitted(self)
        own = summary["monetary_value"].to_numpy(dtype="float64")
        return np.where(summary["frequency"].to_numpy() > 0, own, self.population_mean_)

    def get_state(self) -> dict[str, Any]:
        """Fitted parameters as plain data."""
        check_is_fitted(self)
        return {"population_mean": self.population_mean_}

    def set_state(self, state: dict[str, Any]) -> Self:
        """Restore the fitted parameters."""
        self.population_mean_ = float(state["population_mean"])
        return self


def spend_state(model: SpendModel | None) -> dict[str, Any] | None:
    """A fitted spend model as plain data (its name and state), or ``None``."""
    if model is None:
        return None
    return {"name": model.name, "state": model.get_state()}


def restore_spend_model(saved: dict[str, Any] | None) -> SpendModel | None:
    """Rebuild a spend model written by :func:`spend_state`."""
    if not saved:
        return None
    # The built-in spend models need no plugin registry (building it loads
    # every plugin, 0.1 s); no plugin can reuse their names.
    builtin = {cls.name: cls for cls in (GammaGammaSpend, MeanSpend)}
    spend_cls = builtin.get(saved["name"])
    if spend_cls is None:
        from clvframe._plugins import build_registry

        spend_cls = build_registry().get("spend_model", saved["name"]).cls
    return spend_cls().set_state(saved["state"])


@hookimpl
def clvframe_register_spend_models() -> list[type[SpendModel]]:
    """Register the built-in spend models."""
    return [GammaGammaSpend, MeanSpend]
