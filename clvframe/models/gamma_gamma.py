"""The Gamma-Gamma spend model (Fader, Hardie and Lee 2005; Colombo and Jiang 1999).

The value of each transaction is Gamma(p, nu) around a customer's mean p/nu,
and nu ~ Gamma(q, v) across customers. The mean spend of a customer's x
repeat purchases is then Gamma(p x, nu x) given nu, which is what the model is
fitted on: repeat buyers only, as the first purchase is excluded from the
summary's monetary value.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any
from typing import Self

import numpy as np
from scipy import special

from clvframe.errors import DataValidationError
from clvframe.errors import DataWarning
from clvframe.models._base import FittedParamsMixin
from clvframe.models._base import broadcast_float
from clvframe.models._fitting import maximise_likelihood
from clvframe.models._special import Levels
from clvframe.models._special import per_level
from clvframe.models._validation import as_float_vector
from clvframe.models._validation import check_rows
from clvframe.models._validation import check_same_length
from clvframe.models._validation import check_weights
from clvframe.models._validation import compress_rows
from clvframe.models._validation import describe_rows

logger = logging.getLogger(__name__)


class GammaGammaModel(FittedParamsMixin):
    """Gamma-Gamma model of the mean spend per repeat purchase.

    Args:
        penalizer: Non-negative L2 penalty on the log-parameters.
        exclude_non_repeat: Leave out customers with frequency 0 (with a
            DataWarning counting them) instead of failing on them.
        max_iter: Iteration limit of the optimiser.

    Attributes:
        params_: Fitted ``p``, ``q``, ``v``.
        log_likelihood_: Summed log-likelihood of the mean spends.
        standard_errors_: Standard errors of the parameters.
        n_customers_: Number of repeat buyers fitted on.
        converged_: Whether the optimiser converged.
    """

    name = "gamma_gamma"
    param_names = ("p", "q", "v")

    def __init__(
        self,
        penalizer: float = 0.0,
        exclude_non_repeat: bool = False,
        max_iter: int = 1000,
    ) -> None:
        self.penalizer = penalizer
        self.exclude_non_repeat = exclude_non_repeat
        self.max_iter = max_iter

    def fit(
        self,
        frequency: Any,
        monetary_value: Any,
        weights: Any = None,
        customer_ids: Sequence[Any] | None = None,
    ) -> Self:
        """Fit on the repeat buyers' frequency and mean spend per repeat purchase.

        Args:
            frequency: Repeat purchases per customer.
            monetary_value: Mean spend per repeat purchase.
            weights: Optional number of customers each row stands for.
            customer_ids: Optional ids, used to name bad rows in errors.

        Returns:
            self, fitted.

        Raises:
            DataValidationError: If a customer has frequency 0 (unless
                ``exclude_non_repeat``), no customer is a repeat buyer, or a
                repeat buyer's monetary value is not positive.
            ConvergenceError: If the optimiser fails.
        """
        x, m, w = self._check_fit_inputs(frequency, monetary_value, weights)
        ids = list(customer_ids) if customer_ids is not None else None
        non_repeat = x == 0
        if np.any(non_repeat):
            if not self.exclude_non_repeat:
                raise DataValidationError(
                    "Gamma-Gamma is fitted on repeat buyers only (frequency > 0), "
                    "because monetary_value averages the repeat purchases; "
                    f"frequency is 0 for {describe_rows(non_repeat, ids)}. Leave "
                    "them out of the fit (exclude_non_repeat=True); their expected "
                    "spend is then the population mean."
                )
            warnings.warn(
                f"Gamma-Gamma: left out {int(non_repeat.sum())} customers with "
                "frequency 0 from the fit (it uses repeat buyers only).",
                DataWarning,
                stacklevel=2,
            )
        repeat = ~non_repeat & (w > 0)
        if not np.any(repeat):
            raise DataValidationError(
                "Gamma-Gamma: no repeat buyers (every frequency is 0), so there is "
                "no repeat spend to fit on."
            )
        check_rows(
            repeat & (m <= 0),
            "Gamma-Gamma needs a positive monetary_value for every repeat buyer; "
            "monetary_value <= 0 for",
            ids,
        )
        (x, m), w = compress_rows([x[repeat], m[repeat]], w[repeat])

        # The frequencies' grouping and the logs of the data are the same at
        # every evaluation: compute them once.
        levels, log_m, log_x = Levels(x), np.log(m), np.log(x)

        def loglik(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return _loglik(theta, x, m, levels, log_m, log_x)

        # Method-of-moments flavoured start: transaction values of about the
        # mean spend, a moderately heavy-tailed population of customer means.
        mean_spend = float(w @ m / w.sum())
        result = maximise_likelihood(
            loglik,
            w,
            [1.0, 2.0, mean_spend],
            model_name=self.name,
            param_names=self.param_names,
            penalizer=self.penalizer,
            max_iter=self.max_iter,
        )
        self._record_fit(result, w.sum())
        return self

    @staticmethod
    def _check_fit_inputs(
        frequency: Any, monetary_value: Any, weights: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = as_float_vector(frequency, "frequency")
        m = as_float_vector(monetary_value, "monetary_value")
        check_same_length(frequency=x, monetary_value=m)
        check_rows(x < 0, "frequency is negative")
        check_rows(x != np.round(x), "frequency is not a whole number")
        return x, m, check_weights(weights, x.shape[0])

    def log_likelihood(
        self, frequency: Any, monetary_value: Any, weights: Any = None
    ) -> float:
        """Summed log-likelihood of repeat buyers' mean spends.

        Args:
            frequency: Repeat purchases per customer (all > 0).
            monetary_value: Mean spend per repeat purchase (all > 0).
            weights: Optional number of customers each row stands for.

        Returns:
            The weighted log-likelihood.

        Raises:
            DataValidationError: If a frequency or monetary value is not positive.
        """
        theta = self._param_array()
        x, m, w = self._check_fit_inputs(frequency, monetary_value, weights)
        check_rows(x == 0, "log-likelihood needs repeat buyers; frequency is 0")
        check_rows(m <= 0, "monetary_value is not positive")
        ll, _ = _loglik(theta, x, m)
        return float(w @ ll)

    def conditional_expected_spend(
        self, frequency: Any, monetary_value: Any
    ) -> np.ndarray:
        """Expected mean spend per future purchase, given each customer's history.

        A weighted average of the population mean ``p v / (q - 1)`` and the
        customer's own mean; customers with frequency 0 get the population mean.

        Args:
            frequency: Repeat purchases per customer.
            monetary_value: Mean spend per repeat purchase (ignored where the
                frequency is 0).

        Returns:
            Expected spend per purchase.

        Raises:
            ValueError: If q <= 1 (the population mean spend is infinite).
        """
        p, q, v = self._param_array()
        if q <= 1:
            raise ValueError(
                f"Gamma-Gamma: q={q:.6g} <= 1, so the expected spend is infinite "
                "(the population of customer mean spends is too heavy-tailed). "
                "Refit with a penalizer or on more repeat buyers."
            )
        x, m = broadcast_float(frequency, monetary_value)
        if np.any(x < 0) or np.any(~np.isfinite(x)):
            raise DataValidationError("frequency must be finite and >= 0.")
        m = np.where(x > 0, m, 0.0)
        return p * (v + x * m) / (p * x + q - 1)


def _loglik(
    theta: np.ndarray,
    x: np.ndarray,
    m: np.ndarray,
    levels: Levels | None = None,
    log_m: np.ndarray | None = None,
    log_x: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    p, q, v = theta
    px = p * x
    log_m = np.log(m) if log_m is None else log_m
    log_x = np.log(x) if log_x is None else log_x
    log_vxm = np.log(v + x * m)
    # Functions of the frequency alone, evaluated once per distinct value.
    gammaln_diff, psi_pxq, psi_px = per_level(
        levels if levels is not None else x,
        lambda u: special.gammaln(p * u + q) - special.gammaln(p * u),
        lambda u: special.digamma(p * u + q),
        lambda u: special.digamma(p * u),
    )
    ll = (
        gammaln_diff
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1) * log_m
        + px * log_x
        - (px + q) * log_vxm
    )
    grad = np.empty((x.shape[0], 3))
    grad[:, 0] = x * (psi_pxq - psi_px + log_m + log_x - log_vxm)
    grad[:, 1] = psi_pxq - special.digamma(q) + np.log(v) - log_vxm
    grad[:, 2] = q / v - (px + q) / (v + x * m)
    return ll, grad
