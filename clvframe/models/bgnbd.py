"""The BG/NBD purchase model (Fader, Hardie and Lee 2005).

While alive, a customer purchases at rate lambda ~ Gamma(r, alpha); after each
purchase they drop out with probability p ~ Beta(a, b). A customer with no
repeat purchase is therefore alive for certain.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import special

from clvframe.models._base import PurchaseModel
from clvframe.models._base import broadcast_float
from clvframe.models._base import mean_or_one
from clvframe.models._special import Levels
from clvframe.models._special import SummaryRows
from clvframe.models._special import beta_geometric_mean
from clvframe.models._special import dot
from clvframe.models._special import nbd_log_pmf
from clvframe.models._special import nbd_sf
from clvframe.models._special import per_level
from clvframe.models._special import per_pair
from clvframe.models._special import softplus_and_expit

logger = logging.getLogger(__name__)


class BetaGeoModel(PurchaseModel):
    """BG/NBD: Poisson purchases, beta-geometric dropout after each purchase.

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

    name = "bgnbd"
    param_names = ("r", "alpha", "a", "b")

    def _start_values(
        self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> list[float]:
        # alpha carries the time unit: start at mean T per mean purchase.
        rate = mean_or_one(x, w) / mean_or_one(T, w)
        return [1.0, 1.0 / rate, 1.0, 1.0]

    def _summed_loglik(
        self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
        return _SummedLoglik(x, tx, T, w)

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
        repeat = x > 0
        log_at = np.log(alpha + T)
        log_atx = np.log(alpha + tx)
        # Alive at T vs. dropped out right after the last purchase.
        c1 = -rx * log_at
        b_safe = np.where(repeat, b + x - 1, 1.0)
        c2 = np.where(repeat, np.log(a) - np.log(b_safe) - rx * log_atx, -np.inf)
        lse = np.logaddexp(c1, c2)
        w1 = np.exp(c1 - lse)
        w2 = np.exp(c2 - lse)

        gammaln_rx, beta_x, psi_rx, psi_bx, psi_abx = per_level(
            rows.frequencies if rows is not None else x,
            lambda v: special.gammaln(r + v),
            lambda v: special.betaln(a, b + v),
            lambda v: special.digamma(r + v),
            lambda v: special.digamma(b + v),
            lambda v: special.digamma(a + b + v),
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
        grad[:, 3] = psi_bx - psi_abx - special.digamma(b) + psi_ab - w2 / b_safe
        return ll, grad

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Probability that each customer is still alive at T.

        Args:
            frequency: Repeat purchases per customer.
            recency: Time of the last purchase, from the first.
            T: Time from the first purchase to the end of observation.

        Returns:
            Probabilities in [0, 1] (exactly 1 without repeat purchases).
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
        # Given alive at T: lambda ~ Gamma(r + x, alpha + T), p ~ Beta(a, b + x).
        return alive * per_pair(
            x,
            t_end,
            horizon,
            lambda x, t_end: beta_geometric_mean(
                r + x, alpha + t_end, a, b + x, horizon
            ),
        )

    def conditional_expected_purchases_at(
        self, times: Any, frequency: Any, recency: Any, T: Any
    ) -> np.ndarray:
        """Expected purchases in (T, T + t] for several horizons at once.

        P(alive) is computed once, and the live customer's expectation once
        per distinct (frequency, T) pair and horizon.

        Args:
            times: One-dimensional horizons.
            frequency: Repeat purchases per customer (one-dimensional).
            recency: Time of the last purchase, from the first.
            T: Time from the first purchase to the end of observation.

        Returns:
            Shape (len(times), customers).
        """
        r, alpha, a, b = self._param_array()
        horizons = self._horizon(times).ravel()[:, None]
        x, tx, t_end = self._history(frequency, recency, T)
        if x.ndim != 1:
            return super().conditional_expected_purchases_at(
                times, frequency, recency, T
            )
        alive = _p_alive(r, alpha, a, b, x, tx, t_end)
        pairs = Levels(x, t_end)
        xv, tv = pairs.values
        live = beta_geometric_mean(r + xv, alpha + tv, a, b + xv, horizons)
        return alive * live[:, pairs.inverse]

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        """Expected repeat purchases in (0, t] of a customer first buying at 0.

        Args:
            t: Time since the first purchase (scalar or array).

        Returns:
            E[X(t)], the same shape as ``t``.
        """
        r, alpha, a, b = self._param_array()
        return beta_geometric_mean(r, alpha, a, b, self._horizon(t))

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
        if count.ndim == 0:
            # One count: the live part depends on (frequency, T) alone.
            live = per_pair(
                x,
                t_end,
                horizon,
                lambda x, t_end: _p_n_live(
                    count, horizon, r + x, alpha + t_end, a, b + x
                ),
            )
        else:
            live = _p_n_live(count, horizon, r + x, alpha + t_end, a, b + x)
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
        return _p_n_live(self._count(n), self._horizon(t), r, alpha, a, b)


class _SummedLoglik:
    """The weighted BG/NBD log-likelihood and gradient, aggregated by group.

    Per row the log-likelihood is ``f(x) + r log alpha - (r + x) log(alpha +
    T) + softplus(d)``, with the log-odds of dropout ``d = log a - log(b + x -
    1) + (r + x) (log(alpha + T) - log(alpha + tx))`` (minus infinity
    without repeat purchases). The terms in ``x`` alone are summed over the
    distinct frequencies with their weights, those in ``T`` alone over the
    distinct T, and only the softplus term and its derivatives, which couple
    frequency, recency and T, are evaluated per row, and only on repeat
    buyers' rows. The gradient comes out as weighted sums (dot products),
    never as a rows x parameters matrix.
    """

    def __init__(
        self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> None:
        self.n = float(w.sum())
        levels = Levels(x)
        self.x_levels = levels.values[0]
        self.w_levels = np.bincount(levels.inverse, weights=w)
        ages = Levels(T)
        self.T_levels = ages.values[0]
        # Weights, and frequency-weighted weights, per distinct T.
        self.w_T = np.bincount(ages.inverse, weights=w)
        self.wx_T = np.bincount(ages.inverse, weights=w * x)
        repeat = x > 0
        self.w = w[repeat]
        self.x = x[repeat]
        self.x_index = levels.inverse[repeat]
        self.T_index = ages.inverse[repeat]
        recencies = Levels(tx[repeat])
        self.tx_levels = recencies.values[0]
        self.tx_index = recencies.inverse
        self.repeat_levels = self.x_levels > 0

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = (float(v) for v in theta)
        xl, wl, n = self.x_levels, self.w_levels, self.n
        log_alpha = math.log(alpha)
        log_at_levels = np.log(alpha + self.T_levels)
        log_atx_levels = np.log(alpha + self.tx_levels)
        inv_at_levels = 1.0 / (alpha + self.T_levels)
        inv_atx_levels = 1.0 / (alpha + self.tx_levels)
        # Per frequency level: log(b + x - 1) is only used for x > 0.
        b_x1 = np.where(self.repeat_levels, b + xl - 1, 1.0)
        odds_levels = math.log(a) - np.log(b_x1)
        inv_bx1_levels = 1.0 / b_x1

        # Per repeat-buyer row.
        log_ratio = log_at_levels[self.T_index] - log_atx_levels[self.tx_index]
        rx = r + self.x
        d = odds_levels[self.x_index] + rx * log_ratio
        softplus, dropped = softplus_and_expit(d)
        w_drop = self.w * dropped  # weight x P(dropped out | history)
        inv_ratio = inv_atx_levels[self.tx_index] - inv_at_levels[self.T_index]

        psi_ab = special.digamma(a + b)
        psi_abx = special.digamma(a + b + xl)
        # Weights per T of (r + x), the factor of -log(alpha + T).
        w_rx_T = r * self.w_T + self.wx_T
        ll = (
            wl @ (special.gammaln(r + xl) + special.betaln(a, b + xl))
            - n * (special.gammaln(r) - r * log_alpha + special.betaln(a, b))
            - w_rx_T @ log_at_levels
            + dot(self.w, softplus)
        )
        sum_drop = float(w_drop.sum())
        grad = np.array(
            [
                wl @ special.digamma(r + xl)
                - n * (special.digamma(r) - log_alpha)
                - self.w_T @ log_at_levels
                + dot(w_drop, log_ratio),
                n * r / alpha - w_rx_T @ inv_at_levels - dot(w_drop * rx, inv_ratio),
                n * psi_ab - wl @ psi_abx + sum_drop / a,
                wl @ (special.digamma(b + xl) - psi_abx)
                - n * (special.digamma(b) - psi_ab)
                - np.bincount(self.x_index, weights=w_drop, minlength=xl.size)
                @ inv_bx1_levels,
            ]
        )
        return float(ll), grad


def _p_alive(
    r: float,
    alpha: float,
    a: float,
    b: float,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
) -> np.ndarray:
    repeat = x > 0
    b_safe = np.where(repeat, b + x - 1, 1.0)
    # Log-odds of "dropped out after the last purchase" against "alive".
    log_odds = (
        np.log(a) - np.log(b_safe) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
    )
    return np.where(repeat, special.expit(-log_odds), 1.0)


def _p_n_live(
    n: np.ndarray, t: np.ndarray, k: Any, scale: Any, a: Any, b: Any
) -> np.ndarray:
    """P(n purchases in (0, t]) for a customer alive at 0, mixed over the posterior.

    Given (lambda, p): n purchases with no dropout among them and no further
    purchase, or the n-th purchase followed by dropout; mixing over
    lambda ~ Gamma(k, scale) and p ~ Beta(a, b) gives negative binomial and
    beta-function terms.
    """
    n, t, k, scale, a, b = broadcast_float(n, t, k, scale, a, b)
    stay = np.exp(special.betaln(a, b + n) - special.betaln(a, b))
    nb_pmf = np.exp(nbd_log_pmf(n, k, scale, t))
    repeat = n > 0
    n_safe = np.where(repeat, n, 1.0)
    drop = np.exp(special.betaln(a + 1, b + n_safe - 1) - special.betaln(a, b))
    reach = nbd_sf(n_safe - 1, k, scale, t)
    return stay * nb_pmf + np.where(repeat, drop * reach, 0.0)
