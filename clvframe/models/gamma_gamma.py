"""The Gamma-Gamma spend model (Fader, Hardie and Lee 2005; Colombo and Jiang 1999).

The value of each transaction is Gamma(p, nu) around a customer's mean p/nu,
and nu ~ Gamma(q, v) across customers. The mean spend of a customer's x
repeat purchases is then Gamma(p x, nu x) given nu, which is what the model is
fitted on: repeat buyers only, as the first purchase is excluded from the
summary's monetary value.
"""

from __future__ import annotations

import logging
import math
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
from clvframe.models._special import dot
from clvframe.models._special import per_level
from clvframe.models._validation import as_float_vector
from clvframe.models._validation import check_rows
from clvframe.models._validation import check_same_length
from clvframe.models._validation import check_weights
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
        ids = _as_ids(customer_ids)
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
        # No compression of identical rows: mean spends are continuous, so
        # nearly every (frequency, monetary_value) row is distinct, and the
        # aggregated likelihood costs only a log and a reciprocal per row.
        x, m, w = x[repeat], m[repeat], w[repeat]

        loglik = _SummedLoglik(x, m, w)

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
            summed=True,
            # Loose for L-BFGS-B: the Newton polish that follows reaches the
            # optimum to machine precision.
            tol=1e-8,
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
        low, high = x.min(initial=0.0), x.max(initial=0.0)
        if not (np.isfinite(low) and np.isfinite(high)) or low < 0:
            raise DataValidationError("frequency must be finite and >= 0.")
        # p (v + x m) / (p x + q - 1), with m taken as 0 where x is 0 (its
        # value there is a placeholder), in place: a million customers make
        # each temporary array cost as much as the arithmetic.
        spend = np.multiply(x, m, where=x > 0, out=np.zeros(np.shape(x)))
        spend += v
        spend *= p
        denominator = p * x
        denominator += q - 1
        spend /= denominator
        # A number for a number, an array for arrays.
        return spend if spend.ndim else spend[()]


def _as_ids(customer_ids: Sequence[Any] | None) -> Sequence[Any] | None:
    """Customer ids for error messages, without copying an indexable sequence.

    Only the first few ids of bad rows are ever read, so an array or a
    pandas Index (anything with ``len`` and positional ``[]``) is kept as it
    is; other iterables are listed.
    """
    if customer_ids is None:
        return None
    if hasattr(customer_ids, "iloc"):
        # A pandas Series: its [] reads labels; its array reads positions.
        return customer_ids.array
    if hasattr(customer_ids, "__getitem__") and hasattr(customer_ids, "__len__"):
        return customer_ids
    return list(customer_ids)


class _SummedLoglik:
    """The weighted Gamma-Gamma log-likelihood and gradient, aggregated.

    Per repeat buyer the log-likelihood is ``lgamma(p x + q) - lgamma(p x) -
    lgamma(q) + q log v + (p x - 1) log m + p x log x - (p x + q) log(v + x
    m)``. Only the last term couples the parameters with the spend; the
    rest are functions of the frequency (summed over its distinct values
    with their weights) or fixed weighted sums of the data, computed once.
    An evaluation is then one log and one reciprocal per row and four dot
    products.
    """

    def __init__(self, x: np.ndarray, m: np.ndarray, w: np.ndarray) -> None:
        levels = Levels(x)
        self.x_levels = levels.values[0]
        self.w_levels = np.bincount(levels.inverse, weights=w)
        self.n = float(w.sum())
        self.xm = x * m
        log_m = np.log(m)
        wx = w * x
        # Rows (w x, w): the weights of log(v + x m) in the p and q terms.
        self.weights = np.stack([wx, w])
        self.sum_wx_log_mx = dot(wx, log_m + np.log(x))
        self.sum_w_log_m = dot(w, log_m)

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, v = (float(t) for t in theta)
        xl, wl, n = self.x_levels, self.w_levels, self.n
        vxm = v + self.xm
        # Weighted sums of log(v + x m) and 1 / (v + x m), by w x and by w.
        (sx_log, s_log), (sx_inv, s_inv) = (
            np.einsum("ij,j->i", self.weights, np.log(vxm)),
            np.einsum("ij,j->i", self.weights, 1.0 / vxm),
        )
        pxl = p * xl
        psi_pxq = special.digamma(pxl + q)
        log_v = math.log(v)
        ll = (
            wl @ (special.gammaln(pxl + q) - special.gammaln(pxl))
            - n * (special.gammaln(q) - q * log_v)
            + p * self.sum_wx_log_mx
            - self.sum_w_log_m
            - p * sx_log
            - q * s_log
        )
        grad = np.array(
            [
                (wl * xl) @ (psi_pxq - special.digamma(pxl))
                + self.sum_wx_log_mx
                - sx_log,
                wl @ psi_pxq - n * (special.digamma(q) - log_v) - s_log,
                n * q / v - p * sx_inv - q * s_inv,
            ]
        )
        return float(ll), grad


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
