"""The MBG/NBD purchase model (Batislam, Denizel and Filiztekin 2007).

As BG/NBD, except that a customer may also drop out right after the first
purchase: the dropout coin p ~ Beta(a, b) is tossed after every purchase,
including the first. So a customer without repeat purchases may be inactive,
which corrects BG/NBD's "one-time buyers are certainly alive".
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy import special

from clvframe.models._base import PurchaseModel
from clvframe.models._base import mean_or_one
from clvframe.models._special import SummaryRows
from clvframe.models._special import beta_geometric_mean
from clvframe.models._special import per_level
from clvframe.models._special import per_pair
from clvframe.models.bgnbd import _p_n_live

logger = logging.getLogger(__name__)


class ModifiedBetaGeoModel(PurchaseModel):
    """MBG/NBD: BG/NBD with a dropout opportunity at the first purchase too.

    Time is unitless: use recency, T and horizons in one unit.

    Args:
        penalizer: Non-negative L2 penalty on the log-parameters.
        max_iter: Iteration limit of the optimiser.
        tol: Relative tolerance of the optimiser on the objective.

    Attributes:
        params_: Fitted ``r``, ``alpha``, ``a``, ``b``.
        log_likelihood_: Summed log-likelihood at the optimum (unpenalised).
        standard_errors_: Standard errors of the parameters.
        n_customers_: Number of customers fitted on (sum of weights).
        converged_: Whether the optimiser converged.
    """

    name = "mbgnbd"
    param_names = ("r", "alpha", "a", "b")

    def _start_values(
        self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> list[float]:
        rate = mean_or_one(x, w) / mean_or_one(T, w)
        return [1.0, 1.0 / rate, 1.0, 1.0]

    def _loglik(
        self,
        theta: np.ndarray,
        x: np.ndarray,
        tx: np.ndarray,
        T: np.ndarray,
        rows: SummaryRows | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        r, alpha, a, b = theta
        rx = r + x
        log_at = np.log(alpha + T)
        log_atx = np.log(alpha + tx)
        # Alive at T vs. dropped out right after the last (or first) purchase.
        c1 = -rx * log_at
        c2 = np.log(a) - np.log(b + x) - rx * log_atx
        lse = np.logaddexp(c1, c2)
        w1 = np.exp(c1 - lse)
        w2 = np.exp(c2 - lse)

        gammaln_rx, beta_x, psi_rx, psi_bx, psi_abx = per_level(
            rows.frequencies if rows is not None else x,
            lambda v: special.gammaln(r + v),
            lambda v: special.betaln(a, b + v + 1),
            lambda v: special.digamma(r + v),
            lambda v: special.digamma(b + v + 1),
            lambda v: special.digamma(a + b + v + 1),
        )
        ll = (
            gammaln_rx
            - special.gammaln(r)
            + r * np.log(alpha)
            + beta_x
            - special.betaln(a, b)
            + lse
        )
        psi_ab = special.digamma(a + b)
        grad = np.empty((x.shape[0], 4))
        grad[:, 0] = (
            psi_rx - special.digamma(r) + np.log(alpha) - w1 * log_at - w2 * log_atx
        )
        grad[:, 1] = r / alpha - rx * (w1 / (alpha + T) + w2 / (alpha + tx))
        grad[:, 2] = psi_ab - psi_abx + w2 / a
        grad[:, 3] = psi_bx - psi_abx - special.digamma(b) + psi_ab - w2 / (b + x)
        return ll, grad

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Probability that each customer is still alive at T.

        Args:
            frequency: Repeat purchases per customer.
            recency: Time of the last purchase, from the first.
            T: Time from the first purchase to the end of observation.

        Returns:
            Probabilities in [0, 1].
        """
        r, alpha, a, b = self._param_array()
        x, tx, t_end = self._history(frequency, recency, T)
        return _p_alive(r, alpha, a, b, x, tx, t_end)

    def conditional_expected_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> np.ndarray:
        """Expected purchases in (T, T + t] given each customer's history.

        Args:
            t: Length of the forecast period (scalar or broadcastable array).
            frequency: Repeat purchases per customer.
            recency: Time of the last purchase, from the first.
            T: Time from the first purchase to the end of observation.

        Returns:
            Expected purchases, broadcast over ``t`` and the history.
        """
        r, alpha, a, b = self._param_array()
        horizon = self._horizon(t)
        x, tx, t_end = self._history(frequency, recency, T)
        alive = _p_alive(r, alpha, a, b, x, tx, t_end)
        # Alive at T means x + 1 dropout coins came up "stay".
        return alive * per_pair(
            x,
            t_end,
            horizon,
            lambda x, t_end: beta_geometric_mean(
                r + x, alpha + t_end, a, b + x + 1, horizon
            ),
        )

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        """Expected repeat purchases in (0, t] of a customer first buying at 0.

        Args:
            t: Time since the first purchase (scalar or array).

        Returns:
            E[X(t)], the same shape as ``t``.
        """
        r, alpha, a, b = self._param_array()
        # Survive the first coin (probability b / (a + b)), which shifts the
        # dropout distribution to Beta(a, b + 1).
        return b / (a + b) * beta_geometric_mean(r, alpha, a, b + 1, self._horizon(t))

    def p_n_purchases(
        self, n: Any, t: Any, frequency: Any, recency: Any, T: Any
    ) -> np.ndarray:
        """P(exactly ``n`` purchases in (T, T + t]) given each history.

        Args:
            n: Number of purchases (whole number >= 0, broadcastable).
            t: Length of the forecast period.
            frequency: Repeat purchases per customer.
            recency: Time of the last purchase, from the first.
            T: Time from the first purchase to the end of observation.

        Returns:
            Probabilities, broadcast over all arguments.
        """
        r, alpha, a, b = self._param_array()
        count, horizon = self._count(n), self._horizon(t)
        x, tx, t_end = self._history(frequency, recency, T)
        alive = _p_alive(r, alpha, a, b, x, tx, t_end)
        live = _p_n_live(count, horizon, r + x, alpha + t_end, a, b + x + 1)
        return np.where(count == 0, 1 - alive, 0.0) + alive * live

    def p_n_purchases_new(self, n: Any, t: Any) -> np.ndarray:
        """P(exactly ``n`` repeat purchases in (0, t]) for a new customer.

        Args:
            n: Number of purchases (whole number >= 0, broadcastable).
            t: Time since the first purchase.

        Returns:
            Probabilities, broadcast over ``n`` and ``t``.
        """
        r, alpha, a, b = self._param_array()
        count, horizon = self._count(n), self._horizon(t)
        stay = b / (a + b)
        live = _p_n_live(count, horizon, r, alpha, a, b + 1)
        return np.where(count == 0, 1 - stay, 0.0) + stay * live


def _p_alive(
    r: float,
    alpha: float,
    a: float,
    b: float,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
) -> np.ndarray:
    log_odds = (
        np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
    )
    return special.expit(-log_odds)
