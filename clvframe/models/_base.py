"""Common machinery of the purchase models: fitting, parameters, fitted state."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import ClassVar
from typing import Self

import numpy as np

from clvframe.errors import DataValidationError
from clvframe.errors import IdentificationError
from clvframe.errors import NotFittedError
from clvframe.models._fitting import maximise_likelihood
from clvframe.models._special import SummaryRows
from clvframe.models._validation import check_summary
from clvframe.models._validation import check_weights
from clvframe.models._validation import compress_rows

logger = logging.getLogger(__name__)


def check_params(
    params: Mapping[str, float], names: tuple[str, ...], owner: str
) -> np.ndarray:
    """Validate a parameter mapping and return the values in ``names`` order.

    Args:
        params: Parameter values by name.
        names: Required names, in the model's order.
        owner: Class name for messages.

    Returns:
        The parameters as a float array.

    Raises:
        ValueError: If a name is missing or unknown, or a value is not a
            positive finite number.
    """
    missing = [n for n in names if n not in params]
    unknown = [n for n in params if n not in names]
    if missing or unknown:
        raise ValueError(
            f"{owner}: parameters must be exactly {list(names)}; "
            f"missing {missing}, unknown {unknown}."
        )
    values = np.array([float(params[n]) for n in names])
    bad = [n for n, v in zip(names, values, strict=True) if not (v > 0 and v < np.inf)]
    if bad:
        raise ValueError(
            f"{owner}: parameters {bad} must be positive finite numbers; got "
            f"{ {n: params[n] for n in bad} }."
        )
    return values


def broadcast_float(*arrays: Any) -> list[np.ndarray]:
    """Broadcast array-likes to a common shape as float64 arrays."""
    return list(np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in arrays]))


class FittedParamsMixin:
    """Fitted state and parameter handling shared by every model.

    Subclasses define ``name``, ``param_names`` and ``_start_values``.
    """

    name: ClassVar[str]
    param_names: ClassVar[tuple[str, ...]]

    params_: dict[str, float]
    log_likelihood_: float | None
    standard_errors_: dict[str, float] | None
    n_customers_: int
    converged_: bool

    @classmethod
    def from_params(cls, params: Mapping[str, float]) -> Self:
        """Build a fitted model from known parameters.

        ``log_likelihood_`` and ``standard_errors_`` are None and
        ``n_customers_`` is 0: nothing was fitted.

        Args:
            params: A value for every name in ``param_names``.

        Returns:
            A model ready for prediction.

        Raises:
            ValueError: If a parameter is missing, unknown or not positive.
        """
        values = check_params(params, cls.param_names, cls.__name__)
        model = cls()
        model.params_ = dict(zip(cls.param_names, map(float, values), strict=True))
        model.log_likelihood_ = None
        model.standard_errors_ = None
        model.n_customers_ = 0
        model.converged_ = True
        return model

    def _param_array(self) -> np.ndarray:
        params = getattr(self, "params_", None)
        if params is None:
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call "
                "fit() or build it with from_params() before predicting."
            )
        return np.array([params[n] for n in self.param_names])

    def _record_fit(self, result: Any, n_customers: float) -> None:
        self.params_ = dict(
            zip(self.param_names, map(float, result.params), strict=True)
        )
        self.log_likelihood_ = result.log_likelihood
        self.standard_errors_ = dict(
            zip(self.param_names, map(float, result.standard_errors), strict=True)
        )
        self.n_customers_ = int(round(n_customers))
        self.converged_ = result.converged

    def __repr__(self) -> str:
        params = getattr(self, "params_", None)
        if params is None:
            return f"{type(self).__name__}(unfitted)"
        inner = ", ".join(f"{k}={v:.4g}" for k, v in params.items())
        return f"{type(self).__name__}({inner})"


class PurchaseModel(FittedParamsMixin):
    """Base of the continuous-time purchase models (BG/NBD, Pareto/NBD, MBG/NBD).

    Args:
        penalizer: Non-negative L2 penalty on the log-parameters, added to the
            mean negative log-likelihood.
        max_iter: Iteration limit of the optimiser.
        tol: Relative tolerance of the optimiser on the objective.
    """

    def __init__(
        self, penalizer: float = 0.0, max_iter: int = 1000, tol: float = 1e-10
    ) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter
        self.tol = tol

    # Subclasses implement these two. ``rows`` holds groupings of (x, tx, T)
    # found once per fit; without it _loglik finds what it needs itself.
    def _loglik(
        self,
        theta: np.ndarray,
        x: np.ndarray,
        tx: np.ndarray,
        T: np.ndarray,
        rows: SummaryRows | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _start_values(
        self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> list[float]:
        raise NotImplementedError

    def _summed_loglik(
        self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> Callable[[np.ndarray], tuple[float, np.ndarray]] | None:
        """Optionally, the weighted total log-likelihood and gradient, prepared.

        A model may aggregate its terms by frequency, recency or T once per
        fit and return a function of the parameters giving the weighted sums
        directly, cheaper than per-row values and gradients. None (the
        default) fits on :meth:`_loglik`.
        """
        return None

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> Self:
        """Fit the model by maximum likelihood on a customer summary.

        Identical (frequency, recency, T) rows are compressed first, so the
        cost depends on the number of distinct rows, not of customers.

        Args:
            frequency: Repeat purchases per customer.
            recency: Time of the last purchase, from the first.
            T: Time from the first purchase to the end of observation.
            weights: Optional number of customers each row stands for.

        Returns:
            self, with ``params_``, ``log_likelihood_``, ``standard_errors_``,
            ``n_customers_`` and ``converged_`` set. When a parameter runs
            off towards 0 or infinity (data that cannot identify it) the fit
            returns with a BoundaryWarning naming it, and ``converged_`` is
            False if the optimiser could not settle.

        Raises:
            DataValidationError: If the summary is invalid.
            IdentificationError: If no customer made a repeat purchase.
            ConvergenceError: If the optimiser fails.
        """
        x, tx, t_end = check_summary(frequency, recency, T)
        return self._fit_summary(x, tx, t_end, check_weights(weights, x.shape[0]))

    def _fit_summary(
        self, x: np.ndarray, tx: np.ndarray, t_end: np.ndarray, w: np.ndarray
    ) -> Self:
        """Compress a validated summary and fit on it."""
        (x, tx, t_end), w = compress_rows([x, tx, t_end], w)
        if not np.any(x > 0):
            raise IdentificationError(
                f"{self.name}: no customer made a repeat purchase (every frequency "
                "is 0), so the purchase rate and the dropout process cannot be "
                "told apart. Fit on a longer observation period or on more "
                "customers."
            )

        summed = self._summed_loglik(x, tx, t_end, w)
        if summed is None:
            rows = SummaryRows(x, tx, t_end)

            def loglik(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                return self._loglik(theta, x, tx, t_end, rows)

        result = maximise_likelihood(
            summed if summed is not None else loglik,
            w,
            self._start_values(x, tx, t_end, w),
            model_name=self.name,
            param_names=self.param_names,
            penalizer=self.penalizer,
            max_iter=self.max_iter,
            tol=self.tol,
            summed=summed is not None,
        )
        self._record_fit(result, w.sum())
        return self

    def log_likelihood(
        self, frequency: Any, recency: Any, T: Any, weights: Any = None
    ) -> float:
        """Weighted log-likelihood of a summary under the fitted parameters.

        Args:
            frequency: Repeat purchases per customer.
            recency: Time of the last purchase, from the first.
            T: Time from the first purchase to the end of observation.
            weights: Optional number of customers each row stands for.

        Returns:
            The summed log-likelihood.
        """
        theta = self._param_array()
        x, tx, t_end = check_summary(frequency, recency, T)
        w = check_weights(weights, x.shape[0])
        ll, _ = self._loglik(theta, x, tx, t_end)
        return float(w @ ll)

    def conditional_expected_purchases_at(
        self, times: Any, frequency: Any, recency: Any, T: Any
    ) -> np.ndarray:
        """Expected purchases in (T, T + t] for each of several horizons ``t``.

        Args:
            times: One-dimensional horizons.
            frequency: Repeat purchases per customer (one-dimensional).
            recency: Time of the last purchase, from the first.
            T: Time from the first purchase to the end of observation.

        Returns:
            Shape (len(times), customers). Models override this to share the
            work that does not depend on the horizon.
        """
        horizons = self._horizon(times).ravel()
        return np.stack(
            [
                np.asarray(
                    self.conditional_expected_purchases(t, frequency, recency, T),
                    dtype=np.float64,
                )
                for t in horizons
            ]
        )

    def _history(
        self, frequency: Any, recency: Any, T: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Validate a history for prediction, keeping its (broadcast) shape."""
        x, tx, t_end = broadcast_float(frequency, recency, T)
        shape = x.shape
        flat = check_summary(x.ravel(), tx.ravel(), t_end.ravel())
        return tuple(a.reshape(shape) for a in flat)  # type: ignore[return-value]

    @staticmethod
    def _horizon(t: Any, name: str = "t") -> np.ndarray:
        horizon = np.asarray(t, dtype=np.float64)
        if np.any(~np.isfinite(horizon)) or np.any(horizon < 0):
            raise DataValidationError(
                f"{name} must be finite and >= 0; got {horizon!r}."
            )
        return horizon

    @staticmethod
    def _count(n: Any) -> np.ndarray:
        count = np.asarray(n, dtype=np.float64)
        if np.any(count < 0) or np.any(count != np.round(count)):
            raise DataValidationError(f"n must be a whole number >= 0; got {count!r}.")
        return count


def mean_or_one(values: np.ndarray, weights: np.ndarray) -> float:
    """Weighted mean of positive values, or 1 when it is not usable."""
    mean = float(weights @ values / weights.sum())
    return mean if math.isfinite(mean) and mean > 0 else 1.0
