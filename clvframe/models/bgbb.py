"""The BG/BB model of discrete-time purchases (Fader, Hardie and Shang 2010).

Each period is one transaction opportunity. While alive, a customer
transacts at an opportunity with probability p ~ Beta(alpha, beta); at the
start of each opportunity they drop out with probability theta ~ Beta(gamma,
delta). A summary is (frequency x, recency t_x = the opportunity of the last
transaction, 0 without any, n = the number of opportunities observed).
"""

from __future__ import annotations

import logging
from typing import Any
from typing import Self

import numpy as np
from scipy import special

from clvframe.models._base import PurchaseModel
from clvframe.models._base import broadcast_float
from clvframe.models._validation import check_summary
from clvframe.models._validation import check_weights

logger = logging.getLogger(__name__)


class BetaGeoBetaBinomModel(PurchaseModel):
    """BG/BB: beta-Bernoulli purchases with beta-geometric dropout.

    Args:
        penalizer: Non-negative L2 penalty on the log-parameters.
        max_iter: Iteration limit of the optimiser.
        tol: Relative tolerance of the optimiser on the objective.

    Attributes:
        params_: Fitted ``alpha``, ``beta``, ``gamma``, ``delta``.
        log_likelihood_: Summed log-likelihood at the optimum (unpenalised).
        standard_errors_: Standard errors of the parameters.
        n_customers_: Number of customers fitted on (sum of weights).
        converged_: Whether the optimiser converged.
    """

    name = "bgbb"
    param_names = ("alpha", "beta", "gamma", "delta")

    def fit(  # type: ignore[override]
        self, frequency: Any, recency: Any, n_periods: Any, weights: Any = None
    ) -> Self:
        """Fit by maximum likelihood on a summary of transaction opportunities.

        Args:
            frequency: Transactions after the first opportunity (whole numbers).
            recency: Opportunity of the last transaction (0 without any).
            n_periods: Opportunities observed per customer.
            weights: Optional number of customers each row stands for (the
                compressed tables of the paper carry one).

        Returns:
            self, fitted.

        Raises:
            DataValidationError: If the summary is invalid (for instance
                frequency > recency, or non-integer periods).
            IdentificationError: If nobody transacted.
            ConvergenceError: If the optimiser fails.
        """
        x, tx, n = self._check(frequency, recency, n_periods)
        return self._fit_summary(x, tx, n, check_weights(weights, x.shape[0]))

    @staticmethod
    def _check(
        frequency: Any, recency: Any, n_periods: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return check_summary(
            frequency, recency, n_periods, time_name="n_periods", integer_time=True
        )

    def _history(
        self, frequency: Any, recency: Any, T: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, tx, n = broadcast_float(frequency, recency, T)
        shape = x.shape
        flat = self._check(x.ravel(), tx.ravel(), n.ravel())
        return tuple(a.reshape(shape) for a in flat)  # type: ignore[return-value]

    def log_likelihood(
        self, frequency: Any, recency: Any, n_periods: Any, weights: Any = None
    ) -> float:
        """Weighted log-likelihood of a summary under the fitted parameters.

        Args:
            frequency: Transactions per customer.
            recency: Opportunity of the last transaction.
            n_periods: Opportunities observed.
            weights: Optional number of customers each row stands for.

        Returns:
            The summed log-likelihood.
        """
        theta = self._param_array()
        x, tx, n = self._check(frequency, recency, n_periods)
        w = check_weights(weights, x.shape[0])
        ll, _ = self._loglik(theta, x, tx, n)
        return float(w @ ll)

    def _start_values(
        self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> list[float]:
        return [1.0, 1.0, 1.0, 1.0]

    def _loglik(
        self,
        theta: np.ndarray,
        x: np.ndarray,
        tx: np.ndarray,
        T: np.ndarray,
        rows: object = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        # ``rows`` (the fit's groupings) is unused: BG/BB summaries are small.
        alpha, beta, gamma, delta = theta
        n = T
        # Column 0: alive through all n opportunities. Column 1 + i: alive
        # through opportunity t_x + i, dropped out at the next one.
        width = int(np.max(n - tx)) + 1
        i = np.arange(width - 1, dtype=np.float64)[None, :]
        col = np.ones((x.shape[0], width), dtype=bool)
        col[:, 1:] = i < (n - tx)[:, None]
        m = np.concatenate([(n - x)[:, None], (tx - x)[:, None] + i], axis=1)
        k = np.concatenate([n[:, None], tx[:, None] + i], axis=1)
        g = np.zeros((1, width))
        g[0, 1:] = 1.0
        xc = x[:, None]
        log_terms = (
            special.betaln(alpha + xc, beta + m)
            - special.betaln(alpha, beta)
            + special.betaln(gamma + g, delta + k)
            - special.betaln(gamma, delta)
        )
        log_terms = np.where(col, log_terms, -np.inf)
        ll = special.logsumexp(log_terms, axis=1)
        weight = np.exp(log_terms - ll[:, None])

        psi_ab = special.digamma(alpha + beta)
        psi_gd = special.digamma(gamma + delta)
        psi_abxm = special.digamma(alpha + beta + xc + m)
        psi_gdk = special.digamma(gamma + delta + g + k)
        d_alpha = (
            special.digamma(alpha + xc) - psi_abxm - special.digamma(alpha) + psi_ab
        )
        d_beta = special.digamma(beta + m) - psi_abxm - special.digamma(beta) + psi_ab
        d_gamma = special.digamma(gamma + g) - psi_gdk - special.digamma(gamma) + psi_gd
        d_delta = special.digamma(delta + k) - psi_gdk - special.digamma(delta) + psi_gd
        grad = np.column_stack(
            [(weight * d).sum(axis=1) for d in (d_alpha, d_beta, d_gamma, d_delta)]
        )
        return ll, grad

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Probability of being alive at the last observed opportunity.

        Args:
            frequency: Transactions per customer.
            recency: Opportunity of the last transaction.
            T: Opportunities observed (``n_periods``).

        Returns:
            Probabilities in [0, 1].
        """
        theta = self._param_array()
        alpha, beta, gamma, delta = theta
        x, tx, n = self._history(frequency, recency, T)
        shape = x.shape
        x, tx, n = x.ravel(), tx.ravel(), n.ravel()
        ll, _ = self._loglik(theta, x, tx, n)
        log_alive = (
            special.betaln(alpha + x, beta + n - x)
            - special.betaln(alpha, beta)
            + special.betaln(gamma, delta + n)
            - special.betaln(gamma, delta)
        )
        return np.clip(np.exp(log_alive - ll), 0.0, 1.0).reshape(shape)

    def conditional_expected_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> np.ndarray:
        """Expected transactions in the next ``t`` opportunities, given history.

        Args:
            t: Number of future opportunities (whole number, broadcastable).
            frequency: Transactions per customer.
            recency: Opportunity of the last transaction.
            T: Opportunities observed (``n_periods``).

        Returns:
            Expected transactions.
        """
        alpha, beta, gamma, delta = self._param_array()
        horizon = self._count(t)
        x, tx, n = self._history(frequency, recency, T)
        alive = self.p_alive(x, tx, n)
        # Given alive at n: p ~ Beta(alpha + x, beta + n - x), theta ~
        # Beta(gamma, delta + n).
        p_mean = (alpha + x) / (alpha + beta + n)
        return alive * p_mean * _expected_alive_periods(gamma, delta + n, horizon)

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        """Expected transactions in the first ``t`` opportunities of a new customer.

        Args:
            t: Number of opportunities (whole number).

        Returns:
            E[X(t)], the same shape as ``t``.
        """
        alpha, beta, gamma, delta = self._param_array()
        horizon = self._count(t)
        return alpha / (alpha + beta) * _expected_alive_periods(gamma, delta, horizon)

    def p_n_purchases(
        self, n: Any, t: Any, frequency: Any, recency: Any, T: Any
    ) -> np.ndarray:
        """P(exactly ``n`` transactions in the next ``t`` opportunities | history).

        Args:
            n: Number of transactions (whole number >= 0).
            t: Number of future opportunities (whole number).
            frequency: Transactions per customer.
            recency: Opportunity of the last transaction.
            T: Opportunities observed (``n_periods``).

        Returns:
            Probabilities, broadcast over all arguments.
        """
        alpha, beta, gamma, delta = self._param_array()
        count, horizon = self._count(n), self._count(t)
        x, tx, periods = self._history(frequency, recency, T)
        alive = self.p_alive(x, tx, periods)
        live = _p_n_live(
            count, horizon, alpha + x, beta + periods - x, gamma, delta + periods
        )
        return np.where(count == 0, 1 - alive, 0.0) + alive * live

    def p_n_purchases_new(self, n: Any, t: Any) -> np.ndarray:
        """P(exactly ``n`` transactions in the first ``t`` opportunities).

        Args:
            n: Number of transactions (whole number >= 0).
            t: Number of opportunities (whole number).

        Returns:
            Probabilities, broadcast over ``n`` and ``t``.
        """
        alpha, beta, gamma, delta = self._param_array()
        return _p_n_live(self._count(n), self._count(t), alpha, beta, gamma, delta)


def _expected_alive_periods(gamma: float, d: Any, horizon: np.ndarray) -> np.ndarray:
    """Sum over k = 1..N of E[(1 - theta)^k] for theta ~ Beta(gamma, d).

    The sum telescopes to (d - Q) / (gamma - 1) with Q = d * exp(L) and
    L = lgamma(gamma + d) - lgamma(d + 1) + lgamma(d + N + 1) -
    lgamma(gamma + d + N); expm1 keeps it exact near gamma = 1, where the
    limit is d * (digamma(d + N + 1) - digamma(d + 1)).
    """
    d, horizon = broadcast_float(d, horizon)
    log_q = (
        special.gammaln(gamma + d)
        - special.gammaln(d + 1)
        + special.gammaln(d + horizon + 1)
        - special.gammaln(gamma + d + horizon)
    )
    if abs(gamma - 1) < 1e-9:
        total = d * (special.digamma(d + horizon + 1) - special.digamma(d + 1))
    else:
        total = -d * np.expm1(log_q) / (gamma - 1)
    # Rounding in the log-gammas must not turn an empty sum negative.
    return np.where(horizon > 0, np.maximum(total, 0.0), 0.0)


def _p_n_live(
    n: np.ndarray,
    horizon: np.ndarray,
    alpha: Any,
    beta: Any,
    gamma: float,
    delta: Any,
) -> np.ndarray:
    """P(n transactions in the next ``horizon`` opportunities | alive now).

    Mixes over j, the number of those opportunities the customer is alive
    for: j < horizon with probability E[(1-theta)^j theta], horizon with
    E[(1-theta)^horizon]; given j, transactions are beta-binomial(j).
    """
    n, horizon, alpha, beta, delta = broadcast_float(n, horizon, alpha, beta, delta)
    jmax = int(np.max(horizon)) if horizon.size else 0
    j = np.arange(jmax + 1, dtype=np.float64)
    shape = (*n.shape, 1)
    nn, hh = n.reshape(shape), horizon.reshape(shape)
    aa, bb, dd = alpha.reshape(shape), beta.reshape(shape), delta.reshape(shape)
    valid = (j <= hh) & (nn <= j)
    log_life = np.where(
        j < hh,
        special.betaln(gamma + 1, dd + j) - special.betaln(gamma, dd),
        special.betaln(gamma, dd + j) - special.betaln(gamma, dd),
    )
    j_safe = np.where(valid, j, nn)
    log_binom = (
        special.gammaln(j_safe + 1)
        - special.gammaln(nn + 1)
        - special.gammaln(j_safe - nn + 1)
        + special.betaln(aa + nn, bb + j_safe - nn)
        - special.betaln(aa, bb)
    )
    terms = np.where(valid, np.exp(log_life + log_binom), 0.0)
    return terms.sum(axis=-1).reshape(n.shape)
