"""The estimator contract shared by every CLV model.

Estimators follow scikit-learn's conventions: ``__init__`` only stores its
keyword arguments (they map one-to-one onto ``estimator.params`` in the
config), ``fit`` returns ``self``, fitted attributes end in ``_``, and scoring
methods start with :func:`check_is_fitted`. A fitted estimator carries its
time unit; a forecast asked in another unit is converted, never reinterpreted.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from typing import ClassVar
from typing import Self

import numpy as np
import pandas as pd

from clvframe._component import Component
from clvframe.data.summary import CustomerData
from clvframe.data.units import unit_days
from clvframe.errors import DataValidationError
from clvframe.errors import NotFittedError
from clvframe.estimators.valuation import Valuation
from clvframe.estimators.valuation import check_horizon
from clvframe.estimators.valuation import discounted_value

STATE_FILE = "estimator.json"
STATE_FORMAT = 1
PREDICTION_COLUMNS = (
    "expected_purchases",
    "p_alive",
    "p_repurchase",
    "expected_spend",
    "clv",
)

logger = logging.getLogger(__name__)


def read_saved_estimator(directory: str | Path) -> dict[str, Any]:
    """Read the ``estimator.json`` document that :meth:`CLVEstimator.save` wrote.

    Raises:
        DataValidationError: The file is missing or not a saved estimator.
    """
    path = Path(directory) / STATE_FILE
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DataValidationError(
            f"{path}: not a saved clvframe estimator ({err})."
        ) from err
    if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
        raise DataValidationError(f"{path}: not a saved clvframe estimator (format).")
    return document


class _BatchedCumulative:
    """Cumulative purchases at known times, computed in batches and kept.

    ``discounted_value`` asks for the step ends one at a time; this answers
    them from batches of consecutive times, each computed by one call of
    ``_cumulative_purchases_at``, keeping at most about four million values
    (so a long horizon in daily steps still runs in bounded memory). A time
    not in the list is computed on its own.
    """

    #: Largest number of values (times x rows) computed and kept at once.
    BUDGET = 4_000_000

    def __init__(
        self, estimator: CLVEstimator, rows: pd.DataFrame, times: list[float]
    ) -> None:
        self.estimator, self.rows = estimator, rows
        self.times = list(dict.fromkeys(times))
        self.batch = max(1, self.BUDGET // max(len(rows), 1))
        self.kept: dict[float, np.ndarray] = {}

    def __call__(self, t: float) -> np.ndarray:
        t = float(t)
        if t not in self.kept:
            if t not in self.times:
                return self.estimator._cumulative_purchases(self.rows, t)
            start = self.times.index(t)
            batch = self.times[start : start + self.batch]
            values = self.estimator._cumulative_purchases_at(
                self.rows, np.asarray(batch)
            )
            self.kept = dict(zip(batch, values, strict=True))
        return self.kept[t]


def _plain_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters that are plain data; components are saved by their state."""
    return {
        k: v
        for k, v in params.items()
        if v is None or isinstance(v, (str, int, float, bool, list, dict))
    }


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def check_is_fitted(estimator: object) -> None:
    """Raise :class:`NotFittedError` unless ``estimator`` has been fitted."""
    fitted = [k for k in vars(estimator) if k.endswith("_") and not k.startswith("_")]
    if not fitted:
        raise NotFittedError(
            f"{type(estimator).__name__} is not fitted yet; call fit() before "
            "predicting."
        )


class CLVEstimator(Component):
    """Base class of CLV estimators.

    Subclasses set ``name`` (used in configs and the registry) and implement
    :meth:`fit` and :meth:`_cumulative_purchases` and :meth:`_spend_per_purchase`
    (or override :meth:`predict` altogether).
    """

    params_key = "estimator.params"
    kind: ClassVar[str] = ""
    defines_p_alive: ClassVar[bool] = False

    time_unit_: str

    # -- fitting and prediction ----------------------------------------------

    def fit(self, data: CustomerData) -> Self:
        """Fit on the calibration data; return ``self``."""
        raise NotImplementedError

    def _cumulative_purchases(self, summary: pd.DataFrame, t: float) -> np.ndarray:
        """Expected purchases of each customer in the next ``t`` model units."""
        raise NotImplementedError

    def _cumulative_purchases_at(
        self, summary: pd.DataFrame, times: np.ndarray
    ) -> np.ndarray:
        """Expected purchases in the next ``t`` model units, for several ``t``.

        Returns an array of shape (len(times), customers). The default calls
        :meth:`_cumulative_purchases` once per time; estimators that can share
        work across times (P(alive), groupings) override it.
        """
        return np.stack([self._cumulative_purchases(summary, t) for t in times])

    def _spend_per_purchase(self, summary: pd.DataFrame) -> np.ndarray:
        """Expected spend of each future purchase, per customer."""
        raise NotImplementedError

    def _p_alive(self, summary: pd.DataFrame) -> np.ndarray:
        return np.full(len(summary), np.nan)

    def _p_repurchase(self, summary: pd.DataFrame, t: float) -> np.ndarray:
        return np.full(len(summary), np.nan)

    def predict(
        self,
        data: CustomerData | pd.DataFrame,
        *,
        horizon: float,
        horizon_unit: str | None = None,
        valuation: Valuation | None = None,
    ) -> pd.DataFrame:
        """Forecast each customer over a horizon.

        Args:
            data: The customers to score, summarised up to the scoring date;
                a bare summary frame is taken to be in the model's time unit
                unless its ``attrs["time_unit"]`` says otherwise.
            horizon: Length of the forecast.
            horizon_unit: Unit of ``horizon``; the model's own unit by default.
            valuation: Margin and discounting for the ``clv`` column.

        Returns:
            Indexed by customer_id: ``expected_purchases``, ``p_alive`` (NaN
            where the model has no notion of it), ``p_repurchase`` (probability
            of at least one purchase in the horizon, NaN where the model does
            not give one), ``expected_spend``
            (undiscounted revenue) and ``clv`` (margin applied, discounted).
        """
        check_is_fitted(self)
        valuation = (valuation or Valuation()).check()
        if isinstance(data, pd.DataFrame):
            unit = str(data.attrs.get("time_unit", self.time_unit_))
            data = CustomerData(summary=data, time_unit=unit)
        summary = self._summary_in_model_unit(data)
        month_days = valuation.month_days
        model_days = unit_days(self.time_unit_, month_days=month_days)
        horizon_days = horizon * unit_days(
            horizon_unit or self.time_unit_, month_days=month_days
        )
        check_horizon(horizon_days, horizon)
        t_end = horizon_days / model_days
        rows, inverse = self._prediction_rows(summary)
        # The discount steps' cumulative purchases, computed a batch of steps
        # per call so that shared work (P(alive), groupings) is done once.
        ends, _ = valuation.schedule(horizon_days)
        cumulative = _BatchedCumulative(
            self, rows, [t_end] + [float(end / model_days) for end in ends]
        )
        purchases = cumulative(t_end)
        # CLV is linear in the spend: discount each row's purchases once (at
        # unit spend, margin applied) and scale by each customer's spend.
        discounted = discounted_value(
            cumulative,
            np.ones(len(rows)),
            horizon_days=horizon_days,
            unit_length_days=model_days,
            valuation=valuation,
        )
        p_alive = self._p_alive(rows)
        p_repurchase = self._p_repurchase(rows, t_end)
        if inverse is not None:
            purchases, discounted, p_alive, p_repurchase = (
                v.take(inverse) for v in (purchases, discounted, p_alive, p_repurchase)
            )
        spend = self._spend_per_purchase(summary)
        columns = (
            purchases,
            p_alive,
            p_repurchase,
            purchases * spend,
            discounted * spend,
        )
        # copy=False: a frame of separate columns, not one block copied
        # together; on a million customers the copy cost as much as the
        # model arithmetic.
        return pd.DataFrame(
            dict(zip(PREDICTION_COLUMNS, columns, strict=True)),
            index=summary.index,
            copy=False,
        )

    def _prediction_rows(
        self, summary: pd.DataFrame
    ) -> tuple[pd.DataFrame, np.ndarray | None]:
        """Rows to compute purchases on, and how customers map onto them.

        Estimators whose purchase forecasts depend on a few columns return
        the distinct rows of those columns and each customer's row, so that
        every discount step is computed once per distinct row; the default
        is every customer, with ``None``.
        """
        return summary, None

    # -- persistence: plain data, never pickles --------------------------------

    def get_state(self) -> dict[str, Any]:
        """Fitted state as JSON-serialisable plain data."""
        raise NotImplementedError

    def set_state(self, state: dict[str, Any]) -> Self:
        """Restore the fitted state that :meth:`get_state` returned."""
        raise NotImplementedError

    def save(self, directory: str | Path) -> Path:
        """Write the fitted estimator to ``directory`` (created if needed).

        Writes ``estimator.json`` with the estimator's name, its parameters
        and its fitted state. Estimators with binary state (a LightGBM model)
        override this to add their own files beside it.
        """
        check_is_fitted(self)
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        document = {
            "format": STATE_FORMAT,
            "estimator": self.name,
            "params": _plain_params(self.get_params()),
            "state": self.get_state(),
        }
        path = folder / STATE_FILE
        path.write_text(json.dumps(document, indent=2, default=_json_default))
        return path

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        """Read an estimator written by :meth:`save`.

        Raises:
            DataValidationError: The folder holds no saved estimator, or one
                saved by a different estimator than ``cls``.
        """
        document = read_saved_estimator(directory)
        if document["estimator"] != cls.name:
            raise DataValidationError(
                f"{directory}: holds a {document['estimator']!r} estimator, which "
                f"cannot be loaded as {cls.name!r}."
            )
        params = {k: v for k, v in document["params"].items() if v is not None}
        estimator = cls.from_config(
            {k: v for k, v in params.items() if k in cls._param_names()}
        )
        return estimator.set_state(document["state"])

    def _summary_in_model_unit(self, data: CustomerData) -> pd.DataFrame:
        summary = data.summary
        if data.time_unit == self.time_unit_:
            return summary
        factor = data.unit_days() / unit_days(
            self.time_unit_, month_days=data.month_days
        )
        return summary.assign(
            recency=summary["recency"] * factor, T=summary["T"] * factor
        )
