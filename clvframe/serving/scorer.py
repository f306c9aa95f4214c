"""The scoring core of a packaged CLV model: a transaction log in, customers out.

A packaged model scores a raw transaction log with the code that trained it:
:func:`~clvframe.data.transactions.prepare_transactions` validates the log,
:meth:`~clvframe.data.summary.CustomerData.from_transactions` summarises it,
the estimator forecasts and the segmenter labels. Nothing here imports MLflow,
so the pyfunc model, batch scoring and the tests share one code path.

Logs sent for scoring come from other systems and hold customer data. Errors
about them (:class:`ScoringInputError`) name the column and count the bad rows
by position; they never repeat a value. Warnings raised while scoring are
logged with their quoted values and examples removed.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import warnings
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import numpy as np
import pandas as pd

from clvframe.data.summary import CustomerData
from clvframe.data.summary import parse_day
from clvframe.data.transactions import CANONICAL_COLUMNS
from clvframe.data.transactions import Source
from clvframe.data.transactions import prepare_transactions
from clvframe.data.units import DAYS_PER_YEAR
from clvframe.data.units import DEFAULT_MONTH_DAYS
from clvframe.data.units import unit_days
from clvframe.errors import ClvframeError
from clvframe.errors import ConfigError
from clvframe.errors import DataValidationError
from clvframe.estimators.base import CLVEstimator
from clvframe.estimators.base import read_saved_estimator
from clvframe.estimators.valuation import MAX_HORIZON_YEARS
from clvframe.estimators.valuation import Valuation

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from clvframe.segmenters.base import Segmenter

SETTINGS_FILE = "clvframe_model.json"
SETTINGS_FORMAT = 1
LATEST = "latest"
PARAM_NAMES = ("as_of", "horizon", "horizon_unit", "margin", "discount_rate")
SUMMARY_OUTPUT = ("frequency", "recency", "T", "monetary_value")
FORECAST_OUTPUT = (
    "expected_purchases",
    "p_alive",
    "p_repurchase",
    "expected_spend",
    "clv",
    "historic_clv",
)
_MAX_ROWS_SHOWN = 3
_BAD_VALUES = re.compile(
    r"column '(?P<column>\w+)': (?P<count>\d+) values "
    r"(?P<what>are not numbers|cannot be read as dates): "
    r"(?P<rows>rows [0-9, ]*[0-9](?: and \d+ more)?)"
)
_HINTS = {
    "amount": "send numbers, with a dot for decimals",
    "timestamp": "send ISO 8601 dates: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS",
}
_EXAMPLES = re.compile(r"\s*\((?:first|e\.g\.)[^)]*\)")
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")

logger = logging.getLogger(__name__)


class ScoringInputError(DataValidationError):
    """The log or the parameters sent for scoring are invalid.

    The message names the column or parameter and counts the bad rows; it
    never holds a value of the log, so it can be returned to the caller.
    """


# --- settings ----------------------------------------------------------------


@dataclass(frozen=True)
class ModelSettings:
    """Everything besides the estimator that a packaged model needs to score.

    Attributes:
        estimator: Registered name of the estimator.
        observation_end: Last day of the training data (ISO date); the default
            ``as_of`` of a scoring request.
        time_unit: Unit of recency and T (the data settings of training).
        grain: How orders merge into purchase periods.
        returns: Returns policy.
        month_days: Days in a month.
        business_timezone: Zone that aware timestamps are converted to.
        deduplicate: Whether exact duplicate rows are dropped.
        horizon: Default forecast horizon.
        horizon_unit: Default unit of the horizon.
        margin: Default margin.
        discount_rate: Default discount rate per ``discount_period``.
        discount_period: Unit the discount rate is quoted in.
        discount_step: Length of a discounting step.
        segmenter: ``{"name", "params", "thresholds"?}``, or ``None``; see
            :func:`freeze_segmenter`.
        extra_columns: Extra columns of the training log.
    """

    estimator: str
    observation_end: str
    time_unit: str = "week"
    grain: str = "day"
    returns: str = "net"
    month_days: float = DEFAULT_MONTH_DAYS
    business_timezone: str | None = None
    deduplicate: bool = False
    horizon: float = 52.0
    horizon_unit: str = "week"
    margin: float = 1.0
    discount_rate: float = 0.10
    discount_period: str = "year"
    discount_step: str = "month"
    segmenter: dict[str, Any] | None = None
    extra_columns: tuple[str, ...] = field(default=())

    def default_params(self) -> dict[str, Any]:
        """The scoring parameters and their defaults, as the signature shows them."""
        return {
            "as_of": self.observation_end,
            "horizon": float(self.horizon),
            "horizon_unit": self.horizon_unit,
            "margin": float(self.margin),
            "discount_rate": float(self.discount_rate),
        }

    def write(self, path: str | Path) -> Path:
        """Write the settings as a JSON document."""
        document = {"format": SETTINGS_FORMAT, **asdict(self)}
        document["extra_columns"] = list(self.extra_columns)
        target = Path(path)
        target.write_text(json.dumps(document, indent=2))
        return target

    @classmethod
    def read(cls, path: str | Path) -> ModelSettings:
        """Read settings written by :meth:`write`.

        Raises:
            DataValidationError: The file is missing or not clvframe settings.
        """
        try:
            document = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise DataValidationError(
                f"{path}: not a clvframe model settings file ({err}); log the model "
                "again with clvframe."
            ) from err
        if (
            not isinstance(document, dict)
            or document.pop("format", None) != SETTINGS_FORMAT
        ):
            raise DataValidationError(
                f"{path}: not a clvframe model settings file (format {SETTINGS_FORMAT} "
                "expected); log the model again with this version of clvframe."
            )
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in document.items() if k in known}
        values["extra_columns"] = tuple(values.get("extra_columns", ()))
        return cls(**values)


def settings_from_config(
    cfg: DictConfig,
    *,
    observation_end: pd.Timestamp,
    segmenter: dict[str, Any] | None,
    extra_columns: Iterable[str] = (),
) -> ModelSettings:
    """The settings of a run config that scoring must reproduce.

    Args:
        cfg: The resolved run config.
        observation_end: Last day of the training data.
        segmenter: The frozen segmenter (:func:`freeze_segmenter`).
        extra_columns: Extra columns of the training log.
    """
    loader = cfg.loader.get("params") or {}
    timezone = loader.get("business_timezone")
    return ModelSettings(
        estimator=str(cfg.estimator.name),
        observation_end=str(pd.Timestamp(observation_end).date()),
        time_unit=str(cfg.data.time_unit),
        grain=str(cfg.data.grain),
        returns=str(cfg.data.returns),
        month_days=float(cfg.data.month_days),
        business_timezone=str(timezone) if timezone else None,
        deduplicate=bool(loader.get("deduplicate", False)),
        horizon=float(cfg.forecast.horizon),
        horizon_unit=str(cfg.forecast.horizon_unit),
        margin=float(cfg.forecast.margin),
        discount_rate=float(cfg.forecast.discount_rate),
        discount_period=str(cfg.forecast.discount_period),
        discount_step=str(cfg.forecast.discount_step),
        segmenter=segmenter,
        extra_columns=tuple(str(c) for c in extra_columns),
    )


# --- the estimator -------------------------------------------------------------


def load_estimator(
    directory: str | Path, *, expected: str | None = None
) -> CLVEstimator:
    """Load a saved estimator through the class registered under its name.

    Args:
        directory: A folder written by :meth:`CLVEstimator.save`.
        expected: The estimator name the model was packaged with; a folder
            saved by another estimator is refused.

    Raises:
        DataValidationError: The folder holds no saved estimator, or one saved
            by another estimator than ``expected``.
        ConfigError: No installed plugin registers the saved estimator's name.
    """
    from clvframe._plugins import build_registry

    name = read_saved_estimator(directory)["estimator"]
    if expected is not None and name != expected:
        raise DataValidationError(
            f"{directory}: holds a {name!r} estimator, but the model was packaged "
            f"as {expected!r}; one cannot be loaded as the other. Log the model "
            "again."
        )
    component = build_registry().get(
        "estimator", name, key=f"{directory}: saved estimator"
    )
    return component.cls.load(directory)


# --- segments ------------------------------------------------------------------


def tier_thresholds(
    values: np.ndarray, cut_points: Iterable[float]
) -> list[float | None]:
    """Value thresholds that reproduce value tiers of a reference population.

    :class:`~clvframe.segmenters.tiers.ValueTiers` puts a customer in the top
    share ``c`` when fewer than ``c`` of the population have a strictly higher
    value. Against a fixed reference of ``n`` values that holds exactly when
    the value is at least the ``k``-th largest reference value, ``k`` the
    least whole number with ``k / n >= c``. The tier of a new value is then
    the number of thresholds it falls below, whatever else is scored with it.

    Args:
        values: The reference values (the training customers' CLV).
        cut_points: The tiers' cumulative top shares, increasing.

    Returns:
        One threshold per cut point; ``None`` where the reference is too small
        to reach the cut (an empty reference).
    """
    ordered = np.sort(np.asarray(values, dtype="float64"))[::-1]
    n = len(ordered)
    thresholds: list[float | None] = []
    for cut in cut_points:
        k = max(int(math.ceil(cut * n)), 1)
        while k > 1 and cut <= (k - 1) / n:
            k -= 1
        while k <= n and cut > k / n:
            k += 1
        thresholds.append(float(ordered[k - 1]) if k <= n else None)
    return thresholds


def freeze_segmenter(
    segmenter: Segmenter | None, customers: pd.DataFrame
) -> dict[str, Any] | None:
    """Describe a fitted run's segmenter so that scoring can reproduce it.

    Value tiers are ranks within a population: scored alone, every customer
    would be in the top 1%. They are frozen as value thresholds taken from the
    training customers (:func:`tier_thresholds`), so a customer's tier does not
    depend on who else is scored. Other segmenters are kept by name and
    parameters and label each scored batch on its own.

    Args:
        segmenter: The run's segmenter, or ``None``.
        customers: The run's customers with their forecast.
    """
    from clvframe.segmenters.tiers import ValueTiers

    if segmenter is None:
        return None
    params = {k: _plain(v) for k, v in segmenter.get_params().items()}
    spec: dict[str, Any] = {"name": segmenter.name, "params": params}
    if isinstance(segmenter, ValueTiers):
        values = customers[segmenter.column].to_numpy(dtype="float64")
        spec["labels"] = segmenter.labels()
        spec["thresholds"] = tier_thresholds(
            values[~np.isnan(values)], segmenter.cut_points
        )
    else:
        logger.warning(
            "Segmenter %r cannot be frozen: its labels will be relative to each "
            "scored batch (each chunk in batch scoring).",
            segmenter.name,
        )
    return spec


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class _Segments:
    """Labels customers as the frozen segmenter spec says."""

    def __init__(self, spec: dict[str, Any] | None) -> None:
        self.spec = spec
        self.frozen = spec is not None and "thresholds" in spec
        self.segmenter: Segmenter | None = None
        if spec is not None and "thresholds" not in spec:
            from clvframe._plugins import build_registry

            component = build_registry().get("segmenter", spec["name"])
            self.segmenter = component.cls.from_config(dict(spec["params"]))

    def assign(self, customers: pd.DataFrame) -> pd.Series | None:
        if self.spec is None:
            return None
        if self.segmenter is not None:
            return self.segmenter.assign(customers).astype(str)
        column = self.spec["params"].get("column", "clv")
        values = customers[column].to_numpy(dtype="float64")
        missing = np.isnan(values)
        if missing.any():
            raise ClvframeError(
                f"tiers: {int(missing.sum())} of {len(values)} scored customers have "
                f"no {column} value; the estimator returned NaN."
            )
        tier = np.zeros(len(values), dtype="int64")
        for threshold in self.spec["thresholds"]:
            # No threshold: no reference value was that far down, so no new
            # value is either.
            if threshold is not None:
                tier += values < threshold
        labels = np.asarray(self.spec["labels"], dtype=object)
        return pd.Series(labels[tier], index=customers.index, name="segment")


# --- scoring -------------------------------------------------------------------


@dataclass(frozen=True)
class ScoringParams:
    """Checked parameters of one scoring call."""

    as_of: pd.Timestamp | None
    horizon: float
    horizon_unit: str
    valuation: Valuation


class _RequestRows(Source):
    """Names bad rows by their position only, never by their values."""

    def where(self, positions: np.ndarray, values: Any) -> str:  # noqa: D102
        shown = ", ".join(str(int(p)) for p in positions[:_MAX_ROWS_SHOWN])
        more = len(positions) - _MAX_ROWS_SHOWN
        return f"rows {shown}" + (f" and {more} more" if more > 0 else "")


_REQUEST = _RequestRows("transactions")


def redact(message: str, keep: Iterable[str] = ()) -> str:
    """Remove examples and quoted values from a message about customer data.

    Args:
        message: An error or warning message.
        keep: Quoted words that may stay (column names).
    """
    allowed = set(keep)
    message = _EXAMPLES.sub("", message)

    def _replace(match: re.Match[str]) -> str:
        text = match.group(1) if match.group(1) is not None else match.group(2)
        return match.group(0) if text in allowed else "'...'"

    return _QUOTED.sub(_replace, message)


class CLVScorer:
    """A fitted estimator with its settings: scores transaction logs.

    Args:
        estimator: The fitted estimator.
        settings: The packaged settings.
    """

    def __init__(self, estimator: CLVEstimator, settings: ModelSettings) -> None:
        self.estimator = estimator
        self.settings = settings
        self._segments = _Segments(settings.segmenter)
        # warnings.catch_warnings is process-wide: one scoring call at a time.
        self._lock = threading.Lock()

    @classmethod
    def from_files(
        cls, estimator_dir: str | Path, settings_file: str | Path
    ) -> CLVScorer:
        """Load a packaged model's estimator folder and settings file."""
        settings = ModelSettings.read(settings_file)
        estimator = load_estimator(estimator_dir, expected=settings.estimator)
        return cls(estimator, settings)

    @property
    def output_columns(self) -> list[str]:
        """Columns of :meth:`score`'s result, in order."""
        segment = [] if self.settings.segmenter is None else ["segment"]
        return ["customer_id", *SUMMARY_OUTPUT, *FORECAST_OUTPUT, *segment]

    def check_params(self, params: Mapping[str, Any] | None) -> ScoringParams:
        """Check scoring parameters; missing ones take the packaged defaults.

        Raises:
            ScoringInputError: A parameter is unknown or out of range, listing
                every problem.
        """
        given = dict(params or {})
        merged = {**self.settings.default_params(), **given}
        problems = [
            f"unknown parameter {k!r}" for k in sorted(set(given) - set(PARAM_NAMES))
        ]
        horizon = _number(
            merged["horizon"], "horizon", problems, lower=0.0, strict=True
        )
        margin = _number(merged["margin"], "margin", problems, lower=0.0)
        if margin > 1:
            problems.append(f"margin must be a share between 0 and 1; got {margin!r}")
        rate = _number(merged["discount_rate"], "discount_rate", problems, lower=0.0)
        if horizon > MAX_HORIZON_YEARS * DAYS_PER_YEAR:
            # The unit is checked below; a century in days bounds every unit.
            problems.append(f"horizon must be at most {MAX_HORIZON_YEARS} years")
        unit = str(merged["horizon_unit"])
        try:
            unit_days(unit, month_days=self.settings.month_days)
        except ConfigError:
            problems.append(
                f"horizon_unit must be day, week, month or year; got {unit!r}"
            )
        as_of = _as_of(merged["as_of"], problems)
        if problems:
            raise ScoringInputError(
                "parameters: " + "; ".join(problems) + f". Valid: {list(PARAM_NAMES)}."
            )
        valuation = Valuation(
            margin=margin,
            discount_rate=rate,
            discount_period=self.settings.discount_period,
            discount_step=self.settings.discount_step,
            month_days=self.settings.month_days,
        )
        return ScoringParams(as_of, horizon, unit, valuation)

    def score(
        self, frame: pd.DataFrame, params: Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """Score a transaction log: one row per customer.

        Args:
            frame: The log: ``customer_id``, ``timestamp`` (ISO 8601 text or
                datetimes), ``amount``, and any extra columns the model uses.
            params: ``as_of`` (last day observed, an ISO date or ``"latest"``
                for the log's last day), ``horizon``, ``horizon_unit``,
                ``margin``, ``discount_rate``; the packaged defaults otherwise.

        Returns:
            ``customer_id`` as a column (in order of first appearance),
            frequency, recency, T, monetary_value, the forecast (expected
            purchases, P(alive) (NaN where the model has none), P(repurchase),
            expected spend, CLV), historic CLV and, with a segmenter, the
            segment as text.

        Raises:
            ScoringInputError: The log or the parameters are invalid; the
                message holds no value of the log.
        """
        options = self.check_params(params)
        checked = _check_frame(frame)
        keep = {
            *map(str, checked.columns),
            *CANONICAL_COLUMNS,
            *self.settings.extra_columns,
        }
        with self._lock, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                customers = self._forecast(checked, options)
            except ScoringInputError:
                raise
            except DataValidationError as err:
                raise ScoringInputError(_input_message(str(err), keep)) from None
            finally:
                _log_warnings(caught, keep)
        return customers

    def _forecast(self, frame: pd.DataFrame, options: ScoringParams) -> pd.DataFrame:
        settings = self.settings
        log = prepare_transactions(
            frame,
            business_timezone=settings.business_timezone,
            deduplicate=settings.deduplicate,
            source=_REQUEST,
        )
        if log.empty:
            raise ScoringInputError("transactions: no row has a customer_id.")
        _check_as_of(log, options.as_of)
        data = CustomerData.from_transactions(
            log,
            observation_end=options.as_of,
            time_unit=settings.time_unit,
            grain=settings.grain,
            returns=settings.returns,
            month_days=settings.month_days,
        )
        if data.summary.empty:
            return pd.DataFrame({c: [] for c in self.output_columns})
        forecast = self.estimator.predict(
            data,
            horizon=options.horizon,
            horizon_unit=options.horizon_unit,
            valuation=options.valuation,
        )
        customers = _customers(data, forecast, options)
        segments = self._segments.assign(self._segment_input(data, customers, options))
        if segments is not None:
            customers["segment"] = segments.astype(str)
        return _output_frame(customers, self.output_columns)

    def _segment_input(
        self, data: CustomerData, customers: pd.DataFrame, options: ScoringParams
    ) -> pd.DataFrame:
        """The customers as frozen tiers rank them: at the packaged settings.

        Tier cut values are training CLVs at the packaged horizon and valuation;
        a request for another horizon or margin is ranked on the same scale.
        """
        standard = self.check_params(None)
        same = (options.horizon, options.horizon_unit, options.valuation) == (
            standard.horizon,
            standard.horizon_unit,
            standard.valuation,
        )
        if not self._segments.frozen or same:
            return customers
        forecast = self.estimator.predict(
            data,
            horizon=standard.horizon,
            horizon_unit=standard.horizon_unit,
            valuation=standard.valuation,
        )
        return _customers(data, forecast, standard)


def _customers(
    data: CustomerData, forecast: pd.DataFrame, options: ScoringParams
) -> pd.DataFrame:
    customers = data.summary.join(forecast)
    customers["historic_clv"] = customers["total_spend"] * options.valuation.margin
    return customers


def _number(
    value: Any,
    name: str,
    problems: list[str],
    *,
    lower: float,
    strict: bool = False,
) -> float:
    bad = isinstance(value, bool) or not isinstance(value, (int, float, np.number))
    number = float("nan") if bad else float(value)
    out_of_range = number <= lower if strict else number < lower
    if bad or not math.isfinite(number) or out_of_range:
        bound = f"> {lower:g}" if strict else f">= {lower:g}"
        problems.append(f"{name} must be a number {bound}; got {value!r}")
    return number


def _as_of(value: Any, problems: list[str]) -> pd.Timestamp | None:
    if isinstance(value, str) and value.strip().lower() == LATEST:
        return None
    try:
        return parse_day(value, "as_of")
    except ConfigError:
        problems.append(
            f"as_of must be a date (YYYY-MM-DD) or {LATEST!r}; got {value!r}"
        )
        return None


def _check_frame(frame: Any) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ScoringInputError(
            "transactions: expected a table of transactions (a DataFrame, or "
            f"dataframe_split in a request); got {type(frame).__name__}."
        )
    if frame.columns.duplicated().any():
        raise ScoringInputError("transactions: column names must be unique.")
    missing = [c for c in CANONICAL_COLUMNS if c not in frame.columns]
    if missing:
        raise ScoringInputError(
            f"transactions: missing column(s) {missing}; a log has one row per "
            "order with customer_id, timestamp and amount (extra columns are "
            "allowed)."
        )
    if frame.empty:
        raise ScoringInputError("transactions: the log has no rows.")
    categorical = [
        c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)
    ]
    if categorical:
        frame = frame.assign(**{str(c): frame[c].astype("object") for c in categorical})
    return frame


def _check_as_of(log: pd.DataFrame, as_of: pd.Timestamp | None) -> None:
    if as_of is None:
        return
    after = log["timestamp"] >= as_of + pd.Timedelta(days=1)
    if after.all():
        raise ScoringInputError(
            f"as_of {as_of.date()}: all {len(log)} transactions fall after it; "
            f"send a later as_of, or {LATEST!r} for the log's last day."
        )


def _input_message(message: str, keep: Iterable[str]) -> str:
    found = _BAD_VALUES.search(message)
    if found is None:
        return redact(message, keep)
    column = found["column"]
    hint = _HINTS.get(column, "fix them")
    return (
        f"transactions: column '{column}': {found['count']} values {found['what']} "
        f"({found['rows']}, counting from 0); {hint}."
    )


def _log_warnings(caught: list[warnings.WarningMessage], keep: Iterable[str]) -> None:
    for warning in caught:
        logger.warning(
            "%s: %s", warning.category.__name__, redact(str(warning.message), keep)
        )


def _output_frame(customers: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    # Built from arrays in one step: column-by-column casts cost more than
    # the forecast itself on a small request.
    values: dict[str, np.ndarray] = {
        "customer_id": customers.index.astype(str).to_numpy(dtype=object),
        "frequency": customers["frequency"].to_numpy(dtype="int64"),
    }
    for column in (*SUMMARY_OUTPUT[1:], *FORECAST_OUTPUT):
        values[column] = customers[column].to_numpy(dtype="float64")
    if "segment" in columns:
        values["segment"] = customers["segment"].to_numpy(dtype=object)
    return pd.DataFrame(values, columns=columns)
