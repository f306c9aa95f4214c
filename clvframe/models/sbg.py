"""The shifted-beta-geometric model of contractual retention.

Fader and Hardie (2007), "How to project customer retention": at the end of
each paid period a customer churns with probability theta, and theta ~
Beta(alpha, beta) across customers. Retention rises with tenure because the
customers with high churn probabilities leave first. Fader and Hardie (2010),
"Customer-base valuation in a contractual setting", give the discounted
expected residual lifetime (DERL) that turns the model into CLV.
"""

from __future__ import annotations

import logging
from typing import Any
from typing import Self

import numpy as np
from scipy import special

from clvframe.errors import DataValidationError
from clvframe.errors import IdentificationError
from clvframe.models._base import FittedParamsMixin
from clvframe.models._fitting import maximise_likelihood
from clvframe.models._special import log_hyp2f1_unit_a
from clvframe.models._validation import as_float_vector
from clvframe.models._validation import check_rows
from clvframe.models._validation import check_same_length
from clvframe.models._validation import check_weights
from clvframe.models._validation import compress_rows

logger = logging.getLogger(__name__)


class ShiftedBetaGeometricModel(FittedParamsMixin):
    """sBG: beta-distributed churn probabilities, geometric lifetimes.

    Periods are whole contract periods (months, years): a customer's lifetime
    T is the number of periods paid for, P(T = t) = B(alpha + 1, beta + t -
    1) / B(alpha, beta) for t = 1, 2, ...

    Args:
        penalizer: Non-negative L2 penalty on the log-parameters.
        max_iter: Iteration limit of the optimiser.
        tol: Relative tolerance of the optimiser on the objective.

    Attributes:
        params_: Fitted ``alpha``, ``beta``.
        log_likelihood_: Summed log-likelihood at the optimum (unpenalised).
        standard_errors_: Standard errors of the parameters.
        n_customers_: Number of customers fitted on.
        converged_: Whether the optimiser converged.
    """

    name = "sbg"
    param_names = ("alpha", "beta")

    def __init__(
        self, penalizer: float = 0.0, max_iter: int = 1000, tol: float = 1e-10
    ) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter
        self.tol = tol

    def fit_survival(self, alive_counts: Any) -> Self:
        """Fit on a cohort's survival curve.

        Args:
            alive_counts: Customers still subscribed at the start of each
                period; ``alive_counts[0]`` is the cohort size. Must not
                increase.

        Returns:
            self, fitted.

        Raises:
            DataValidationError: If the counts are not whole, non-negative and
                non-increasing, or fewer than two.
            IdentificationError: If nobody churned.
        """
        counts = as_float_vector(alive_counts, "alive_counts")
        if counts.size < 2:
            raise DataValidationError(
                "alive_counts: need the cohort size and at least one later count; "
                f"got {counts.size} value(s)."
            )
        check_rows(counts < 0, "alive_counts is negative")
        check_rows(counts != np.round(counts), "alive_counts is not a whole number")
        increases = np.concatenate([[False], np.diff(counts) > 0])
        check_rows(increases, "alive_counts increases (a cohort can only shrink)")
        horizon = counts.size - 1
        periods = np.arange(1, horizon + 1, dtype=np.float64)
        lost = counts[:-1] - counts[1:]
        return self.fit(
            np.concatenate([periods, [horizon]]),
            np.concatenate([np.ones(horizon, dtype=bool), [False]]),
            weights=np.concatenate([lost, [counts[-1]]]),
        )

    def fit(self, periods_observed: Any, churned: Any, weights: Any = None) -> Self:
        """Fit on per-customer tenure.

        Args:
            periods_observed: Paid periods per customer (whole numbers; at
                least 1 for a customer who churned).
            churned: True if the customer churned after their last observed
                period, False if still subscribed (right-censored).
            weights: Optional number of customers each row stands for.

        Returns:
            self, fitted.

        Raises:
            DataValidationError: If the inputs are invalid.
            IdentificationError: If nobody churned.
            ConvergenceError: If the optimiser fails.
        """
        k, churn, w = self._check(periods_observed, churned, weights)
        (k, churn), w = compress_rows([k, churn], w)
        if not np.any(churn > 0):
            raise IdentificationError(
                "sbg: no customer churned, so the churn probabilities cannot be "
                "estimated. Observe the cohort for longer."
            )

        def loglik(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return _loglik(theta, k, churn)

        result = maximise_likelihood(
            loglik,
            w,
            [1.0, 1.0],
            model_name=self.name,
            param_names=self.param_names,
            penalizer=self.penalizer,
            max_iter=self.max_iter,
            tol=self.tol,
        )
        self._record_fit(result, w.sum())
        return self

    @staticmethod
    def _check(
        periods_observed: Any, churned: Any, weights: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = as_float_vector(periods_observed, "periods_observed")
        churn = as_float_vector(np.asarray(churned, dtype=bool), "churned")
        check_same_length(periods_observed=k, churned=churn)
        check_rows(k < 0, "periods_observed is negative")
        check_rows(k != np.round(k), "periods_observed is not a whole number")
        check_rows(
            (churn > 0) & (k < 1),
            "churned with periods_observed 0 (a churned customer paid for at "
            "least one period)",
        )
        return k, churn, check_weights(weights, k.shape[0])

    def log_likelihood(
        self, periods_observed: Any, churned: Any, weights: Any = None
    ) -> float:
        """Weighted log-likelihood of per-customer tenure.

        Args:
            periods_observed: Paid periods per customer.
            churned: Whether each customer churned after those periods.
            weights: Optional number of customers each row stands for.

        Returns:
            The summed log-likelihood.
        """
        theta = self._param_array()
        k, churn, w = self._check(periods_observed, churned, weights)
        ll, _ = _loglik(theta, k, churn)
        return float(w @ ll)

    def survival(self, t: Any) -> np.ndarray:
        """P(T > t): the share of a new cohort still subscribed after t periods.

        Args:
            t: Periods (whole numbers >= 0).

        Returns:
            Survival probabilities.
        """
        alpha, beta = self._param_array()
        periods = _periods(t, minimum=0)
        return np.exp(
            special.betaln(alpha, beta + periods) - special.betaln(alpha, beta)
        )

    def churn_probability(self, t: Any) -> np.ndarray:
        """P(T = t): probability that a new customer churns after exactly t periods.

        Args:
            t: Periods (whole numbers >= 1).

        Returns:
            Probabilities.
        """
        alpha, beta = self._param_array()
        periods = _periods(t, minimum=1)
        return np.exp(
            special.betaln(alpha + 1, beta + periods - 1) - special.betaln(alpha, beta)
        )

    def retention_rate(self, t: Any) -> np.ndarray:
        """Share of the customers alive after period t - 1 who renew for period t.

        Args:
            t: Periods (whole numbers >= 1).

        Returns:
            (beta + t - 1) / (alpha + beta + t - 1), rising with t.
        """
        alpha, beta = self._param_array()
        periods = _periods(t, minimum=1)
        return (beta + periods - 1) / (alpha + beta + periods - 1)

    def derl(self, d: Any, n_periods_survived: Any = 0) -> np.ndarray:
        """Discounted expected residual lifetime of a customer, in payments.

        Fader and Hardie (2010), eq. 6, for a customer at the end of a period
        who has made ``n_periods_survived`` renewals so far: the expected
        number of future renewal payments, the first (due now, at the
        next renewal) undiscounted and each later one discounted by
        ``1 / (1 + d)`` per period. With ``n`` renewals,
        ``(beta + n) / (alpha + beta + n) * 2F1(1, beta + n + 1;
        alpha + beta + n + 1; 1 / (1 + d))``. Multiplying by the margin per
        period gives the expected residual lifetime value.

        Args:
            d: Discount rate per period (> 0).
            n_periods_survived: Renewals made so far (0 for a customer in
                their first period).

        Returns:
            DERL, broadcast over ``d`` and ``n_periods_survived``.

        Raises:
            DataValidationError: If ``d`` is not positive.
        """
        alpha, beta = self._param_array()
        rate = np.asarray(d, dtype=np.float64)
        if np.any(~np.isfinite(rate)) or np.any(rate <= 0):
            raise DataValidationError(
                f"d must be a discount rate per period > 0; got {rate!r} (with no "
                "discounting the expected lifetime can be infinite)."
            )
        n = _periods(n_periods_survived, minimum=0)
        rate, n = np.broadcast_arrays(rate, n)
        log_f = log_hyp2f1_unit_a(beta + n + 1, alpha + beta + n + 1, 1 / (1 + rate))[0]
        return (beta + n) / (alpha + beta + n) * np.exp(log_f)

    def discounted_expected_lifetime(self, d: Any) -> np.ndarray:
        """Discounted expected lifetime of a new customer, in payments.

        The first payment (at acquisition) counts undiscounted: 1 + DERL
        of a customer with 0 renewals discounted once more, i.e.
        ``2F1(1, beta; alpha + beta; 1 / (1 + d))``.

        Args:
            d: Discount rate per period (> 0).

        Returns:
            DEL, the same shape as ``d``.
        """
        rate = np.asarray(d, dtype=np.float64)
        return 1 + self.derl(rate, 0) / (1 + rate)


def _periods(t: Any, minimum: int) -> np.ndarray:
    periods = np.asarray(t, dtype=np.float64)
    if np.any(periods < minimum) or np.any(periods != np.round(periods)):
        raise DataValidationError(
            f"periods must be whole numbers >= {minimum}; got {periods!r}."
        )
    return periods


def _loglik(
    theta: np.ndarray, k: np.ndarray, churn: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    alpha, beta = theta
    churned = churn > 0
    # Churned after k periods: P(T = k); still there after k: S(k) = P(T > k).
    a_shift = np.where(churned, 1.0, 0.0)
    b_shift = np.where(churned, k - 1, k)
    ll = special.betaln(alpha + a_shift, beta + b_shift) - special.betaln(alpha, beta)
    psi_ab = special.digamma(alpha + beta)
    psi_all = special.digamma(alpha + beta + a_shift + b_shift)
    grad = np.column_stack(
        [
            special.digamma(alpha + a_shift)
            - psi_all
            - special.digamma(alpha)
            + psi_ab,
            special.digamma(beta + b_shift) - psi_all - special.digamma(beta) + psi_ab,
        ]
    )
    return ll, grad
