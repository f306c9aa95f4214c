"""Built-in ``lightgbm`` estimator: gradient-boosted CLV learned from the log.

The model is trained on the question it is later asked. Inside the data it is
fitted on, it places one or more earlier cutoffs; at each it builds features
from the log as of that cutoff (:func:`clvframe.features.build_features`) and
labels each customer with what they bought in the label window after it
(:func:`clvframe.features.build_labels`). Three boosters learn from those
examples: the spend in the label window (Tweedie by default, or least squares
on ``log1p`` spend), the number of purchase periods in it (Poisson, or least
squares on ``log1p``), and whether the customer buys at all (binary). The
latest cutoff is the validation slice for early stopping; the boosters are then
refitted on every cutoff with the rounds early stopping chose.

LightGBM is imported inside the methods that need it, so registering the
plugin stays cheap.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Self

import numpy as np
import pandas as pd

from clvframe.data.summary import CustomerData
from clvframe.data.units import unit_days
from clvframe.errors import ConfigError
from clvframe.errors import DataValidationError
from clvframe.estimators.base import CLVEstimator
from clvframe.estimators.base import check_is_fitted
from clvframe.estimators.base import read_saved_estimator
from clvframe.estimators.valuation import Valuation
from clvframe.estimators.valuation import discounted_value
from clvframe.features import DEFAULT_WINDOWS
from clvframe.features import RFM_FEATURES
from clvframe.features import build_features
from clvframe.features import build_labels
from clvframe.features import choose_levels
from clvframe.features import resolve_extra_columns
from clvframe.features import rows_up_to
from clvframe.hooks import hookimpl

if TYPE_CHECKING:
    import lightgbm
    from matplotlib.figure import Figure

OBJECTIVES = ("tweedie", "log_regression")
ROLES = ("spend", "purchases", "repurchase")
MODEL_FILES = {role: f"model_{role}.txt" for role in ROLES}
DEFAULT_FALLBACK_WINDOWS = (26.0, 13.0, 4.0)
STACK_COLUMNS = ("stack_expected_purchases", "stack_p_alive", "stack_expected_spend")
_DAY = pd.Timedelta(days=1)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingPlan:
    """Where the training examples come from.

    Attributes:
        label_days: Length of the label window in days.
        cutoffs: Every training cutoff, latest first.
        validation: The cutoff whose examples stop the boosting early, or
            ``None`` without early stopping.
    """

    label_days: int
    cutoffs: tuple[pd.Timestamp, ...]
    validation: pd.Timestamp | None

    def training_cutoffs(self) -> tuple[pd.Timestamp, ...]:
        """Cutoffs whose label windows end by the validation cutoff."""
        if self.validation is None:
            return self.cutoffs
        limit = self.validation - pd.Timedelta(days=self.label_days)
        return tuple(c for c in self.cutoffs if c <= limit)


class LightGBMEstimator(CLVEstimator):
    """Gradient-boosted CLV: LightGBM on features built from the whole log.

    Durations (``windows``, ``cutoff_step``, ``min_history``) are in the time
    unit of the data it is fitted on; the label windows are in
    ``label_window_unit`` (that unit too when ``None``).

    Args:
        windows: Recent windows for purchase counts and spend.
        label_window: Length of the window after each training cutoff whose
            spend and purchases are the labels; set it to the forecast
            horizon, so the model learns the question it is asked.
        label_window_unit: Unit of the label windows.
        fallback_label_windows: Shorter label windows tried, longest first,
            when the data is too short for ``label_window`` (26, 13 and 4
            when ``None``; an empty list for none); forecasts are then scaled
            to the horizon and a warning says so.
        n_cutoffs: Most training cutoffs (the validation cutoff included).
        cutoff_step: Time between cutoffs; the label window when ``None``, so
            that label windows do not overlap.
        min_history: Time between the first day of the log and the earliest
            cutoff.
        objective: ``"tweedie"`` (spend: Tweedie, purchases: Poisson) or
            ``"log_regression"`` (least squares on ``log1p``; ``expm1`` of
            the prediction is then rescaled so that its mean matches the mean
            label of the validation slice, as the exponential of a mean log
            falls short of the mean).
        tweedie_variance_power: Tweedie power, between 1 and 2.
        learning_rate: LightGBM's learning rate.
        num_leaves: Leaves per tree.
        min_data_in_leaf: Fewest examples in a leaf.
        feature_fraction: Share of features tried per tree (1 uses all).
        bagging_fraction: Share of examples per tree (1 uses all).
        num_rounds: Most boosting rounds.
        early_stopping_rounds: Stop when the validation loss has not improved
            for this many rounds; 0 turns early stopping (and the validation
            slice) off.
        refit_on_all_cutoffs: After early stopping, refit on every cutoff,
            the validation one included, with the rounds it chose.
        num_threads: LightGBM threads; results repeat for a seed and a thread
            count.
        seed: Seed of every random choice LightGBM makes.
        lgb_params: Further LightGBM parameters, passed through as they are.
        extra_columns: ``"auto"``, ``"none"`` or a map from extra column to
            aggregations (see :func:`clvframe.features.resolve_extra_columns`).
        top_levels: Levels kept per categorical extra column.
        seasonal: Add ``season_share``: the share of a customer's purchases
            made in the same days of an earlier year as the label window.
        stack_model: A registered estimator (``"bgnbd"``) whose forecasts for
            the label window become features (stacking); ``None`` for none.
        stack_params: Its params, as ``estimator.params`` of that estimator.
        shap_top_customers: Customers in the SHAP table of :meth:`artifacts`.
        shap_sample: Customers sampled for the SHAP summary of
            :meth:`artifacts`.
    """

    name = "lightgbm"
    kind = "ml"
    defines_p_alive = False

    def __init__(
        self,
        windows: Sequence[float] | None = None,
        label_window: float = 52.0,
        label_window_unit: str | None = None,
        fallback_label_windows: Sequence[float] | None = None,
        n_cutoffs: int = 4,
        cutoff_step: float | None = None,
        min_history: float = 4.0,
        objective: str = "tweedie",
        tweedie_variance_power: float = 1.5,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_data_in_leaf: int = 100,
        feature_fraction: float = 1.0,
        bagging_fraction: float = 1.0,
        num_rounds: int = 500,
        early_stopping_rounds: int = 50,
        refit_on_all_cutoffs: bool = True,
        num_threads: int = 1,
        seed: int = 0,
        lgb_params: Mapping[str, Any] | None = None,
        extra_columns: str | Mapping[str, Sequence[str] | str] | None = "auto",
        top_levels: int = 5,
        seasonal: bool = True,
        stack_model: str | None = None,
        stack_params: Mapping[str, Any] | None = None,
        shap_top_customers: int = 100,
        shap_sample: int = 5000,
    ) -> None:
        self.windows = windows
        self.label_window = label_window
        self.label_window_unit = label_window_unit
        self.fallback_label_windows = fallback_label_windows
        self.n_cutoffs = n_cutoffs
        self.cutoff_step = cutoff_step
        self.min_history = min_history
        self.objective = objective
        self.tweedie_variance_power = tweedie_variance_power
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_data_in_leaf = min_data_in_leaf
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.num_rounds = num_rounds
        self.early_stopping_rounds = early_stopping_rounds
        self.refit_on_all_cutoffs = refit_on_all_cutoffs
        self.num_threads = num_threads
        self.seed = seed
        self.lgb_params = lgb_params
        self.extra_columns = extra_columns
        self.top_levels = top_levels
        self.seasonal = seasonal
        self.stack_model = stack_model
        self.stack_params = stack_params
        self.shap_top_customers = shap_top_customers
        self.shap_sample = shap_sample

    # -- checks -----------------------------------------------------------------

    def _check_params(self) -> None:
        problems = []

        def need(ok: bool, key: str, rule: str) -> None:
            if not ok:
                problems.append(f"{key}: must be {rule}; got {getattr(self, key)!r}")

        def positive(value: object) -> bool:
            return (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and value > 0
            )

        def whole(value: object, low: int) -> bool:
            return (
                isinstance(value, int) and not isinstance(value, bool) and value >= low
            )

        windows = self.windows if self.windows is not None else DEFAULT_WINDOWS
        fallback = self._fallback_windows()
        need(all(positive(w) for w in windows), "windows", "a list of numbers > 0")
        need(positive(self.label_window), "label_window", "a number > 0")
        need(
            all(positive(w) for w in fallback), "fallback_label_windows", "numbers > 0"
        )
        need(whole(self.n_cutoffs, 1), "n_cutoffs", "an integer >= 1")
        need(
            self.cutoff_step is None or positive(self.cutoff_step),
            "cutoff_step",
            "> 0 or null",
        )
        need(
            isinstance(self.min_history, (int, float)) and self.min_history >= 0,
            "min_history",
            "a number >= 0",
        )
        need(self.objective in OBJECTIVES, "objective", f"one of {list(OBJECTIVES)}")
        need(
            isinstance(self.tweedie_variance_power, (int, float))
            and 1 < self.tweedie_variance_power < 2,
            "tweedie_variance_power",
            "a number between 1 and 2 (exclusive)",
        )
        need(positive(self.learning_rate), "learning_rate", "a number > 0")
        need(whole(self.num_leaves, 2), "num_leaves", "an integer >= 2")
        need(whole(self.min_data_in_leaf, 1), "min_data_in_leaf", "an integer >= 1")
        for key in ("feature_fraction", "bagging_fraction"):
            value = getattr(self, key)
            need(positive(value) and value <= 1, key, "a number in (0, 1]")
        need(whole(self.num_rounds, 1), "num_rounds", "an integer >= 1")
        need(
            whole(self.early_stopping_rounds, 0),
            "early_stopping_rounds",
            "an integer >= 0",
        )
        need(
            whole(self.num_threads, 0),
            "num_threads",
            "an integer >= 0 (0: LightGBM's default)",
        )
        need(whole(self.seed, 0), "seed", "an integer >= 0")
        need(whole(self.top_levels, 0), "top_levels", "an integer >= 0")
        for key in ("label_window_unit",):
            if getattr(self, key) is not None:
                try:
                    unit_days(getattr(self, key))
                except ConfigError as err:
                    problems.append(f"{key}: {err}")
        if problems:
            raise ConfigError(
                "estimator.params (lightgbm): "
                + "; ".join(problems)
                + ". See conf/estimator/lightgbm.yaml for every setting."
            )

    def _fallback_windows(self) -> Sequence[float]:
        if self.fallback_label_windows is None:
            return DEFAULT_FALLBACK_WINDOWS
        return self.fallback_label_windows

    # -- fitting ----------------------------------------------------------------

    def fit(self, data: CustomerData) -> Self:
        """Build training examples at earlier cutoffs and fit the boosters.

        Args:
            data: Customer data with its transaction log; the log is read up
                to ``data.observation_end`` only.

        Raises:
            DataValidationError: The data holds no transaction log, or the log
                is too short for any label window.
            ConfigError: A parameter is out of range.
        """
        self._check_params()
        log, end = _log_of(data, "fit")
        self.time_unit_ = data.time_unit
        self.grain_ = data.grain
        self.returns_ = data.returns
        self.month_days_ = float(data.month_days)
        self.windows_ = [float(w) for w in (self.windows or DEFAULT_WINDOWS)]
        spec = resolve_extra_columns(log, self.extra_columns)
        self.extra_columns_ = {column: list(aggs) for column, aggs in spec.items()}
        self.levels_ = choose_levels(log, spec, top_levels=self.top_levels)
        self.seasonal_ = bool(self.seasonal)

        plan = self._plan(log["timestamp"].min().normalize(), end)
        self.label_days_ = plan.label_days
        examples = {c: self._examples(log, c, plan.label_days) for c in plan.cutoffs}
        self.feature_names_ = [c for c in next(iter(examples.values()))[0].columns]
        self._fit_boosters(examples, plan)

        self.stack_estimator_ = None
        if self.stack_model:
            at_end = self._base_features(log, end)
            self.stack_estimator_ = self._make_stack().fit(
                _rfm_data(at_end, self.time_unit_)
            )
        self.cutoffs_ = [str(c.date()) for c in plan.cutoffs]
        self.validation_cutoff_ = (
            str(plan.validation.date()) if plan.validation is not None else None
        )
        self.n_customers_ = len(data.summary)
        logger.info(
            "Fitted %s on %d examples from %d cutoffs (%s), %d features, label "
            "window %d days; rounds %s",
            self.name,
            sum(self.n_examples_.values()),
            len(plan.cutoffs),
            ", ".join(self.cutoffs_),
            len(self.feature_names_),
            self.label_days_,
            self.best_iterations_,
        )
        return self

    def _plan(self, first_day: pd.Timestamp, end: pd.Timestamp) -> TrainingPlan:
        scale = unit_days(self.time_unit_, month_days=self.month_days_)
        label_unit = self.label_window_unit or self.time_unit_
        label_scale = unit_days(label_unit, month_days=self.month_days_)
        requested = float(self.label_window)
        fallback = sorted(
            {float(w) for w in self._fallback_windows() if w < requested},
            reverse=True,
        )
        earliest = first_day + pd.Timedelta(days=float(self.min_history) * scale)
        stopping = self.early_stopping_rounds > 0
        for window in [requested, *fallback]:
            label_days = max(1, round(window * label_scale))
            step = round(self.cutoff_step * scale) if self.cutoff_step else label_days
            step = max(step, 1)
            latest = end - pd.Timedelta(days=label_days)
            cutoffs = tuple(
                c
                for c in (
                    latest - pd.Timedelta(days=k * step) for k in range(self.n_cutoffs)
                )
                if c >= earliest
            )
            plan = TrainingPlan(label_days, cutoffs, latest if stopping else None)
            if not cutoffs or (stopping and not plan.training_cutoffs()):
                continue
            if window != requested:
                logger.warning(
                    "%s: the data covers %.1f %ss (%s to %s), too short for a label "
                    "window of %g %ss; using %g %ss instead and scaling forecasts "
                    "to the horizon.",
                    self.name,
                    (end - first_day).days / scale,
                    self.time_unit_,
                    first_day.date(),
                    end.date(),
                    requested,
                    label_unit,
                    window,
                    label_unit,
                )
            return plan
        shortest = min([requested, *fallback])
        need = (
            float(self.min_history) * scale
            + (2 if stopping else 1) * shortest * label_scale
        )
        windows_needed = (
            "two label windows (a training and a validation cutoff)"
            if stopping
            else "one label window"
        )
        raise DataValidationError(
            f"{self.name}: the data covers {(end - first_day).days} days "
            f"({first_day.date()} to {end.date()}), too short for any label window "
            f"in {[requested, *fallback]} {label_unit}s. The shortest needs at least "
            f"{need:.0f} days: min_history ({self.min_history:g} {self.time_unit_}s) "
            f"plus {windows_needed}. Provide a longer log, or add shorter "
            "fallback_label_windows, or shorten min_history"
            + (", or set early_stopping_rounds=0." if stopping else ".")
        )

    def _base_features(self, log: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
        return build_features(
            log,
            cutoff,
            windows=self.windows_,
            time_unit=self.time_unit_,
            extra_columns=self.extra_columns_,
            levels=self.levels_,
            grain=self.grain_,
            returns=self.returns_,
            month_days=self.month_days_,
            season_days=self.label_days_ if self.seasonal_ else None,
        )

    def _examples(
        self, log: pd.DataFrame, cutoff: pd.Timestamp, label_days: int
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        features = self._base_features(log, cutoff)
        if self.stack_model:
            stack = self._make_stack().fit(_rfm_data(features, self.time_unit_))
            features = features.join(self._stack_columns(stack, features, label_days))
        labels = build_labels(
            log,
            cutoff,
            window_days=label_days,
            customers=features.index,
            grain=self.grain_,
            returns=self.returns_,
        )
        return features, labels

    def _booster_params(self, role: str) -> dict[str, Any]:
        if role == "repurchase":
            objective = "binary"
        elif self.objective == "log_regression":
            objective = "regression"
        else:
            objective = "tweedie" if role == "spend" else "poisson"
        params: dict[str, Any] = {
            "objective": objective,
            "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.num_leaves),
            "min_data_in_leaf": int(self.min_data_in_leaf),
            "feature_fraction": float(self.feature_fraction),
            "bagging_fraction": float(self.bagging_fraction),
            "bagging_freq": 1 if self.bagging_fraction < 1 else 0,
            "num_threads": int(self.num_threads),
            "seed": int(self.seed),
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }
        if objective == "tweedie":
            params["tweedie_variance_power"] = float(self.tweedie_variance_power)
        params.update(dict(self.lgb_params or {}))
        return params

    def _target(self, role: str, labels: pd.DataFrame) -> np.ndarray:
        if role == "repurchase":
            return (labels["purchases"].to_numpy() > 0).astype("float64")
        values = labels[role].to_numpy(dtype="float64")
        return np.log1p(values) if self.objective == "log_regression" else values

    def _fit_boosters(
        self,
        examples: dict[pd.Timestamp, tuple[pd.DataFrame, pd.DataFrame]],
        plan: TrainingPlan,
    ) -> None:
        import lightgbm as lgb

        def matrix(cutoffs: Sequence[pd.Timestamp]) -> tuple[np.ndarray, pd.DataFrame]:
            features = pd.concat([examples[c][0] for c in cutoffs], ignore_index=True)
            labels = pd.concat([examples[c][1] for c in cutoffs], ignore_index=True)
            return features[self.feature_names_].to_numpy(dtype="float32"), labels

        self.n_examples_ = {str(c.date()): len(examples[c][0]) for c in plan.cutoffs}
        self.boosters_: dict[str, lightgbm.Booster] = {}
        self.best_iterations_: dict[str, int] = {}
        self.scale_factors_: dict[str, float] = {}
        all_x, all_labels = matrix(plan.cutoffs)
        if plan.validation is not None:
            train_x, train_labels = matrix(plan.training_cutoffs())
            valid_x, valid_labels = matrix([plan.validation])
        for role in ROLES:
            params = self._booster_params(role)
            rounds = int(self.num_rounds)
            factor_x, factor_labels = all_x, all_labels
            if plan.validation is not None:
                train = lgb.Dataset(
                    train_x,
                    self._target(role, train_labels),
                    feature_name=self.feature_names_,
                )
                valid = lgb.Dataset(
                    valid_x, self._target(role, valid_labels), reference=train
                )
                booster = lgb.train(
                    params,
                    train,
                    num_boost_round=rounds,
                    valid_sets=[valid],
                    callbacks=[
                        lgb.early_stopping(
                            int(self.early_stopping_rounds),
                            first_metric_only=True,
                            verbose=False,
                        )
                    ],
                )
                rounds = int(booster.best_iteration or booster.current_iteration())
                if self.objective == "log_regression" and role != "repurchase":
                    # Out of sample: the early-stopped model on the validation slice.
                    self.scale_factors_[role] = _mean_ratio(
                        valid_labels[role], self._raw(booster, valid_x)
                    )
                if not self.refit_on_all_cutoffs:
                    booster = lgb.Booster(model_str=booster.model_to_string())
            if plan.validation is None or self.refit_on_all_cutoffs:
                full = lgb.Dataset(
                    all_x,
                    self._target(role, all_labels),
                    feature_name=self.feature_names_,
                )
                booster = lgb.train(params, full, num_boost_round=rounds)
            # Rebuilt from its text, so a saved and reloaded model predicts the same.
            self.boosters_[role] = lgb.Booster(model_str=booster.model_to_string())
            self.best_iterations_[role] = rounds
            if (
                self.objective == "log_regression"
                and role != "repurchase"
                and role not in self.scale_factors_
            ):
                self.scale_factors_[role] = _mean_ratio(
                    factor_labels[role], self._raw(self.boosters_[role], factor_x)
                )
        self.training_summary_ = pd.DataFrame(
            {
                "cutoff": [str(c.date()) for c in plan.cutoffs],
                "role": [
                    "validation" if c == plan.validation else "training"
                    for c in plan.cutoffs
                ],
                "customers": [len(examples[c][0]) for c in plan.cutoffs],
                "mean_label_spend": [
                    examples[c][1]["spend"].mean() for c in plan.cutoffs
                ],
                "share_repurchasing": [
                    (examples[c][1]["purchases"] > 0).mean() for c in plan.cutoffs
                ],
            }
        )

    # -- stacking ---------------------------------------------------------------

    def _make_stack(self) -> CLVEstimator:
        from clvframe._plugins import build_registry

        registry = build_registry()
        component = registry.get(
            "estimator", str(self.stack_model), key="estimator.params.stack_model"
        )
        params = dict(self.stack_params or {})
        spend_name = params.pop("spend_model", None)
        spend_params = params.pop("spend_params", None) or {}
        if spend_name is not None:
            spend_cls = registry.get(
                "spend_model",
                spend_name,
                key="estimator.params.stack_params.spend_model",
            ).cls
            params["spend_model"] = spend_cls.from_config(dict(spend_params))
        return component.cls.from_config(params)

    def _stack_columns(
        self, stack: CLVEstimator, features: pd.DataFrame, label_days: float
    ) -> pd.DataFrame:
        scale = unit_days(self.time_unit_, month_days=self.month_days_)
        forecast = stack.predict(
            _rfm_data(features, self.time_unit_),
            horizon=label_days / scale,
            horizon_unit=self.time_unit_,
            valuation=Valuation(discount_rate=0.0, month_days=self.month_days_),
        )
        return pd.DataFrame(
            {
                "stack_expected_purchases": forecast["expected_purchases"].to_numpy(),
                "stack_p_alive": forecast["p_alive"].to_numpy(),
                "stack_expected_spend": forecast["expected_spend"].to_numpy(),
            },
            index=features.index,
        )

    # -- prediction -------------------------------------------------------------

    def features(self, data: CustomerData) -> pd.DataFrame:
        """The model's features for the customers of ``data``, as of its end.

        Returns:
            One row per customer of ``data.summary``, in its order, with the
            columns the boosters were trained on.

        Raises:
            DataValidationError: No log, a trained extra column is missing,
                or summary customers have no purchase in the log.
        """
        check_is_fitted(self)
        log, end = _log_of(data, "predict")
        missing = [c for c in self.extra_columns_ if c not in log.columns]
        if missing:
            raise DataValidationError(
                f"{self.name}: the log lacks the extra column(s) {missing} the model "
                f"was trained with; it has {list(log.columns)}. Load them, or refit "
                "with extra_columns set without them."
            )
        features = self._base_features(log, end)
        if self.stack_estimator_ is not None:
            features = features.join(
                self._stack_columns(self.stack_estimator_, features, self.label_days_)
            )
        absent = data.summary.index.difference(features.index)
        if len(absent):
            raise DataValidationError(
                f"{self.name}: {len(absent)} customers of the summary have no purchase "
                f"in the log up to {end.date()} (first: {list(absent[:3])}); pass the "
                "log the summary was built from."
            )
        return features.loc[data.summary.index, self.feature_names_]

    def _raw(
        self, booster: lightgbm.Booster, x: np.ndarray, **options: Any
    ) -> np.ndarray:
        """Predict with the configured thread count (LightGBM's own otherwise)."""
        return booster.predict(x, num_threads=int(self.num_threads), **options)

    def _label_window_forecast(self, x: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        for role in ROLES:
            raw = self._raw(self.boosters_[role], x)
            if role != "repurchase" and self.objective == "log_regression":
                raw = np.clip(np.expm1(raw), 0.0, None) * self.scale_factors_[role]
            out[role] = np.asarray(raw, dtype="float64")
        return out

    def predict(
        self,
        data: CustomerData,
        *,
        horizon: float,
        horizon_unit: str | None = None,
        valuation: Valuation | None = None,
    ) -> pd.DataFrame:
        """Forecast each customer over a horizon.

        The boosters forecast the label window; a different horizon scales
        the expected spend and purchases in proportion to its length, and
        turns the probability of buying in the label window ``p`` into
        ``1 - (1 - p) ** (horizon / label window)`` (a constant chance per
        window). ``clv`` spreads the expected spend evenly over the horizon's
        discount steps, discounts each step at its end and applies the margin.

        Returns:
            Indexed like ``data.summary``: ``expected_purchases``, ``p_alive``
            (NaN: this model has no notion of it), ``p_repurchase``,
            ``expected_spend`` and ``clv``.

        Raises:
            ConfigError: The horizon is not positive.
            DataValidationError: See :meth:`features`.
        """
        check_is_fitted(self)
        valuation = (valuation or Valuation(month_days=self.month_days_)).check()
        model_days = unit_days(self.time_unit_, month_days=valuation.month_days)
        horizon_days = float(horizon) * unit_days(
            horizon_unit or self.time_unit_, month_days=valuation.month_days
        )
        if not horizon_days > 0:
            raise ConfigError(f"forecast.horizon must be positive; got {horizon!r}.")
        features = self.features(data)
        window = self._label_window_forecast(features.to_numpy(dtype="float32"))
        factor = horizon_days / self.label_days_
        if not math.isclose(factor, 1.0):
            logger.info(
                "%s: scaling the %d-day label-window forecast to the %.0f-day horizon "
                "(x%.3f)",
                self.name,
                self.label_days_,
                horizon_days,
                factor,
            )
        spend = window["spend"] * factor
        p_repurchase = 1.0 - (1.0 - np.clip(window["repurchase"], 0.0, 1.0)) ** factor
        clv = discounted_value(
            lambda t: spend * min(t * model_days / horizon_days, 1.0),
            np.ones(len(spend)),
            horizon_days=horizon_days,
            unit_length_days=model_days,
            valuation=valuation,
        )
        return pd.DataFrame(
            {
                "expected_purchases": window["purchases"] * factor,
                "p_alive": np.full(len(spend), np.nan),
                "p_repurchase": p_repurchase,
                "expected_spend": spend,
                "clv": clv,
            },
            index=data.summary.index,
        )

    # -- explanations -----------------------------------------------------------

    @property
    def importance_(self) -> pd.DataFrame:
        """Total gain of each feature in each booster, and its share of the total.

        Sorted by the spend booster's gain, largest first.
        """
        check_is_fitted(self)
        table = pd.DataFrame(
            {
                f"gain_{role}": self.boosters_[role].feature_importance("gain")
                for role in ROLES
            },
            index=pd.Index(self.feature_names_, name="feature"),
        )
        for role in ROLES:
            total = table[f"gain_{role}"].sum()
            table[f"share_{role}"] = table[f"gain_{role}"] / total if total > 0 else 0.0
        return table.sort_values("gain_spend", ascending=False, kind="stable")

    def explain(
        self,
        data: CustomerData,
        *,
        model: str = "spend",
        customers: Sequence[Any] | None = None,
    ) -> pd.DataFrame:
        """Per-customer SHAP contributions (LightGBM's ``pred_contrib``).

        Contributions are on the booster's raw scale: the log of the expected
        label-window spend (``tweedie``), purchases (Poisson), ``log1p`` of
        them (``log_regression``), or the log-odds of buying (``repurchase``).
        Each row sums, with ``expected_value``, to that raw prediction.

        Args:
            data: The customers to explain, with their log.
            model: ``"spend"``, ``"purchases"`` or ``"repurchase"``.
            customers: Only these customer ids (all by default).

        Returns:
            One row per customer, one column per feature, plus
            ``expected_value``.
        """
        check_is_fitted(self)
        if model not in ROLES:
            raise ConfigError(
                f"explain: model must be one of {list(ROLES)}; got {model!r}."
            )
        features = self.features(data)
        if customers is not None:
            features = features.loc[list(customers)]
        contributions = self._raw(
            self.boosters_[model], features.to_numpy(dtype="float32"), pred_contrib=True
        )
        return pd.DataFrame(
            contributions,
            index=features.index,
            columns=[*self.feature_names_, "expected_value"],
        )

    def artifacts(self, data: CustomerData) -> dict[str, pd.DataFrame | Figure]:
        """Tables and plots that explain the fitted model, for MLflow.

        Returns:
            ``feature_importance`` (gain per booster) and its bar chart,
            ``shap_summary`` (mean and mean absolute SHAP value of each feature
            of the spend booster over a seeded sample of customers) and its bar
            chart, ``shap_top_customers`` (the contributions for the customers
            with the highest forecast spend) and ``training`` (the cutoffs).
        """
        check_is_fitted(self)
        importance = self.importance_
        features = self.features(data)
        x = features.to_numpy(dtype="float32")
        spend = self._label_window_forecast(x)["spend"]
        rng = np.random.default_rng(self.seed)
        n_sample = min(len(features), int(self.shap_sample))
        sample = np.sort(rng.choice(len(features), size=n_sample, replace=False))
        booster = self.boosters_["spend"]
        columns = [*self.feature_names_, "expected_value"]
        shap = pd.DataFrame(
            self._raw(booster, x[sample], pred_contrib=True), columns=columns
        )
        summary = pd.DataFrame(
            {
                "mean_abs_shap": shap[self.feature_names_].abs().mean(),
                "mean_shap": shap[self.feature_names_].mean(),
            }
        ).sort_values("mean_abs_shap", ascending=False, kind="stable")
        summary.index.name = "feature"
        top = np.argsort(-spend, kind="stable")[: int(self.shap_top_customers)]
        top_table = pd.DataFrame(
            self._raw(booster, x[top], pred_contrib=True),
            index=features.index[top],
            columns=columns,
        )
        top_table.insert(0, "label_window_spend", spend[top])
        return {
            "feature_importance": importance,
            "feature_importance_plot": _bar_chart(
                importance["gain_spend"],
                "Feature importance (gain, spend booster)",
                "gain",
            ),
            "shap_summary": summary,
            "shap_summary_plot": _bar_chart(
                summary["mean_abs_shap"],
                f"Mean |SHAP| over {n_sample:,} customers (spend booster, log scale)",
                "mean |SHAP value|",
            ),
            "shap_top_customers": top_table,
            "training": self.training_summary_,
        }

    # -- persistence: LightGBM's text format, never pickles ---------------------

    def get_state(self, *, include_models: bool = False) -> dict[str, Any]:
        """Fitted state as plain data.

        Args:
            include_models: Also return the boosters, each in LightGBM's text
                format, under ``model_text``. :meth:`save` writes them as
                files beside ``estimator.json`` instead.
        """
        check_is_fitted(self)
        state: dict[str, Any] = {
            "time_unit": self.time_unit_,
            "grain": self.grain_,
            "returns": self.returns_,
            "month_days": self.month_days_,
            "windows": list(self.windows_),
            "extra_columns": self.extra_columns_,
            "levels": self.levels_,
            "feature_names": list(self.feature_names_),
            "label_days": self.label_days_,
            "seasonal": self.seasonal_,
            "objective": self.objective,
            "cutoffs": list(self.cutoffs_),
            "validation_cutoff": self.validation_cutoff_,
            "n_examples": dict(self.n_examples_),
            "best_iterations": dict(self.best_iterations_),
            "scale_factors": dict(self.scale_factors_),
            "n_customers": self.n_customers_,
            "training": self.training_summary_.to_dict(orient="list"),
            "models": dict(MODEL_FILES),
            "stack": None,
        }
        if self.stack_estimator_ is not None:
            state["stack"] = {
                "estimator": self.stack_estimator_.name,
                "state": self.stack_estimator_.get_state(),
            }
        if include_models:
            state["model_text"] = {
                role: booster.model_to_string()
                for role, booster in self.boosters_.items()
            }
        return state

    def set_state(self, state: dict[str, Any]) -> Self:
        """Restore a state from :meth:`get_state` with ``include_models=True``.

        Raises:
            DataValidationError: The state holds no models.
        """
        import lightgbm as lgb

        texts = state.get("model_text")
        if not isinstance(texts, dict) or set(texts) != set(ROLES):
            raise DataValidationError(
                f"{self.name}: the state holds no LightGBM models (need "
                f"{list(ROLES)}); use get_state(include_models=True), or "
                "LightGBMEstimator.load(folder) for a saved folder."
            )
        self.boosters_ = {role: lgb.Booster(model_str=texts[role]) for role in ROLES}
        self.time_unit_ = str(state["time_unit"])
        self.grain_ = str(state["grain"])
        self.returns_ = str(state["returns"])
        self.month_days_ = float(state["month_days"])
        self.windows_ = [float(w) for w in state["windows"]]
        self.extra_columns_ = {k: list(v) for k, v in state["extra_columns"].items()}
        self.levels_ = {k: list(v) for k, v in state["levels"].items()}
        self.feature_names_ = list(state["feature_names"])
        self.label_days_ = int(state["label_days"])
        self.seasonal_ = bool(state.get("seasonal", False))
        self.objective = str(state["objective"])
        self.cutoffs_ = list(state["cutoffs"])
        self.validation_cutoff_ = state["validation_cutoff"]
        self.n_examples_ = dict(state["n_examples"])
        self.best_iterations_ = {k: int(v) for k, v in state["best_iterations"].items()}
        self.scale_factors_ = {k: float(v) for k, v in state["scale_factors"].items()}
        self.n_customers_ = int(state.get("n_customers", 0))
        self.training_summary_ = pd.DataFrame(state.get("training", {}))
        self.stack_estimator_ = None
        if state.get("stack"):
            from clvframe._plugins import build_registry

            stack = state["stack"]
            cls = build_registry().get("estimator", stack["estimator"]).cls
            self.stack_estimator_ = cls().set_state(stack["state"])
        return self

    def save(self, directory: str | Path) -> Path:
        """Write ``estimator.json`` and the boosters in LightGBM's text format.

        The boosters go to ``model_spend.txt``, ``model_purchases.txt`` and
        ``model_repurchase.txt`` beside ``estimator.json``; each loads in
        LightGBM alone with ``lightgbm.Booster(model_file=...)``.

        Returns:
            The path of ``estimator.json``.
        """
        path = super().save(directory)
        for role, filename in MODEL_FILES.items():
            (path.parent / filename).write_text(self.boosters_[role].model_to_string())
        return path

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        """Read an estimator written by :meth:`save`.

        Raises:
            DataValidationError: The folder holds no saved ``lightgbm``
                estimator, or one of its model files is missing.
        """
        folder = Path(directory)
        document = read_saved_estimator(folder)
        if document["estimator"] != cls.name:
            raise DataValidationError(
                f"{folder}: holds a {document['estimator']!r} estimator, which cannot "
                f"be loaded as {cls.name!r}."
            )
        state = dict(document["state"])
        texts = {}
        for role, filename in state.get("models", MODEL_FILES).items():
            try:
                texts[role] = (folder / filename).read_text()
            except OSError as err:
                raise DataValidationError(
                    f"{folder / filename}: the {role} model of this saved {cls.name} "
                    f"estimator cannot be read ({err}); save it again."
                ) from err
        state["model_text"] = texts
        params = {k: v for k, v in document["params"].items() if v is not None}
        estimator = cls.from_config(
            {k: v for k, v in params.items() if k in cls._param_names()}
        )
        return estimator.set_state(state)


def _log_of(data: CustomerData, action: str) -> tuple[pd.DataFrame, pd.Timestamp]:
    if data.transactions is None:
        raise DataValidationError(
            f"lightgbm: cannot {action} from a summary alone; it learns from the "
            "transaction log. Build the data with CustomerData.from_transactions(log) "
            "(or a loader) instead of CustomerData.from_summary()."
        )
    log = data.transactions
    if log.empty:
        raise DataValidationError(
            f"lightgbm: cannot {action}: the transaction log has no rows."
        )
    end = data.observation_end
    if end is None:
        end = log["timestamp"].max()
    return rows_up_to(log, end)


def _mean_ratio(labels: pd.Series, raw: np.ndarray) -> float:
    """Mean label over mean ``expm1`` prediction (1 when that mean is 0)."""
    predicted = float(np.mean(np.clip(np.expm1(raw), 0.0, None)))
    return float(labels.mean()) / predicted if predicted > 0 else 1.0


def _rfm_data(features: pd.DataFrame, time_unit: str) -> CustomerData:
    summary = features[list(RFM_FEATURES)]
    return CustomerData.from_summary(summary, time_unit=time_unit)


def _bar_chart(values: pd.Series, title: str, xlabel: str, top: int = 20) -> Figure:
    from matplotlib.figure import Figure

    shown = values.sort_values(ascending=False, kind="stable").head(top)[::-1]
    figure = Figure(figsize=(8, 0.3 * len(shown) + 1.5), layout="constrained")
    axes = figure.add_subplot()
    axes.barh(list(map(str, shown.index)), shown.to_numpy(), color="#4c72b0")
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    return figure


@hookimpl
def clvframe_register_estimators() -> list[type[CLVEstimator]]:
    """Register the LightGBM estimator."""
    return [LightGBMEstimator]
