"""The Pareto/NBD purchase model (Schmittlein, Morrison and Colombo 1987).

While alive, a customer purchases at rate lambda ~ Gamma(r, alpha); their
lifetime is exponential with rate mu ~ Gamma(s, beta). The likelihood follows
Fader and Hardie's note "A Note on Deriving the Pareto/NBD Model and Related
Expressions" (2005), with its two branches (alpha >= beta, beta > alpha),
after Euler's transformation of each Gauss hypergeometric function into a
bounded series (see :func:`clvframe.models._special.log_hyp2f1_unit_a`), and
every power kept in log space.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

import numpy as np
from scipy import special

from clvframe.models._base import PurchaseModel
from clvframe.models._base import broadcast_float
from clvframe.models._base import mean_or_one
from clvframe.models._special import Levels
from clvframe.models._special import SummaryRows
from clvframe.models._special import log_hyp2f1_unit_a
from clvframe.models._special import nbd_log_pmf
from clvframe.models._special import per_level

logger = logging.getLogger(__name__)

#: Gauss-Legendre nodes for the dropout integral of P(X = n).
_N_NODES = 256
#: Rows per chunk of that integral (chunk x nodes floats in memory at once).
_CHUNK_ROWS = 8192


class ParetoNBDModel(PurchaseModel):
    """Pareto/NBD: Poisson purchases, exponential lifetimes, gamma heterogeneity.

    Time is unitless: use recency, T and horizons in one unit.

    Args:
        penalizer: Non-negative L2 penalty on the log-parameters.
        max_iter: Iteration limit of the optimiser.
        tol: Relative tolerance of the optimiser on the objective.

    Attributes:
        params_: Fitted ``r``, ``alpha``, ``s``, ``beta``.
        log_likelihood_: Summed log-likelihood at the optimum (unpenalised).
        standard_errors_: Standard errors of the parameters.
        n_customers_: Number of customers fitted on (sum of weights).
        converged_: Whether the optimiser converged.
    """

    name = "paretonbd"
    param_names = ("r", "alpha", "s", "beta")

    def _start_values(
        self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> list[float]:
        # The scales carry the time unit: start both at mean T per purchase.
        scale = mean_or_one(T, w) / mean_or_one(x, w)
        return [1.0, scale, 1.0, scale]

    def _loglik(
        self,
        theta: np.ndarray,
        x: np.ndarray,
        tx: np.ndarray,
        T: np.ndarray,
        rows: SummaryRows | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        r, alpha, s, beta = theta
        rows = rows if rows is not None else SummaryRows(x, tx, T)
        parts = _likelihood_parts(r, alpha, s, beta, x, tx, T, rows=rows)
        log_l, grad = parts["log_l"], parts["grad"]
        gammaln_rx, psi_rx = per_level(
            rows.frequencies,
            lambda v: special.gammaln(r + v),
            lambda v: special.digamma(r + v),
        )
        ll = (
            gammaln_rx
            - special.gammaln(r)
            + r * np.log(alpha)
            + s * np.log(beta)
            + log_l
        )
        grad = grad.copy()
        grad[:, 0] += psi_rx - special.digamma(r) + np.log(alpha)
        grad[:, 1] += r / alpha
        grad[:, 2] += np.log(beta)
        grad[:, 3] += s / beta
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
        r, alpha, s, beta = self._param_array()
        x, tx, t_end = self._history(frequency, recency, T)
        return _p_alive(r, alpha, s, beta, x, tx, t_end)

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
        r, alpha, s, beta = self._param_array()
        horizon = self._horizon(t)
        x, tx, t_end = self._history(frequency, recency, T)
        alive = _p_alive(r, alpha, s, beta, x, tx, t_end)
        # Given alive: lambda ~ Gamma(r + x, alpha + T), mu ~ Gamma(s, beta + T).
        return alive * _live_mean(r + x, alpha + t_end, s, beta + t_end, horizon)

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        """Expected repeat purchases in (0, t] of a customer first buying at 0.

        Args:
            t: Time since the first purchase (scalar or array).

        Returns:
            E[X(t)], the same shape as ``t``.
        """
        r, alpha, s, beta = self._param_array()
        return _live_mean(r, alpha, s, beta, self._horizon(t))

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
        r, alpha, s, beta = self._param_array()
        count, horizon = self._count(n), self._horizon(t)
        x, tx, t_end = self._history(frequency, recency, T)
        alive = _p_alive(r, alpha, s, beta, x, tx, t_end)
        live = _p_n_live(count, horizon, r + x, alpha + t_end, s, beta + t_end)
        return np.where(count == 0, 1 - alive, 0.0) + alive * live

    def p_n_purchases_new(self, n: Any, t: Any) -> np.ndarray:
        """P(exactly ``n`` repeat purchases in (0, t]) for a new customer.

        Args:
            n: Number of purchases (whole number >= 0, broadcastable).
            t: Time since the first purchase.

        Returns:
            Probabilities, broadcast over ``n`` and ``t``.
        """
        r, alpha, s, beta = self._param_array()
        return _p_n_live(self._count(n), self._horizon(t), r, alpha, s, beta)


def _log_term(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: np.ndarray,
    t: np.ndarray,
    derivatives: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Log of 2F1(r+s+x, .; r+s+x+1; z(t)) / (max(alpha, beta) + t)^(r+s+x).

    This is one of the two terms of A0 in Fader and Hardie's note. Euler's
    transformation turns it into (alpha+t)^-(r+x) (beta+t)^-s G when
    alpha >= beta, and (alpha+t)^-(r+x-1) (beta+t)^-(s+1) G otherwise, with G
    a 2F1(1, b; c; z) in [1, 1/(1-z)].

    Returns:
        The log-term and its gradient with respect to (r, alpha, s, beta)
        (not meaningful when ``derivatives`` is False).
    """
    c = r + s + x + 1
    log_a = np.log(alpha + t)
    log_b = np.log(beta + t)
    grad = np.empty((x.shape[0], 4))
    if alpha >= beta:
        z = (alpha - beta) / (alpha + t)
        log_g, g_b, g_c, g_z = log_hyp2f1_unit_a(r + x, c, z, derivatives)
        value = -(r + x) * log_a - s * log_b + log_g
        grad[:, 0] = -log_a + g_b + g_c
        grad[:, 1] = -(r + x) / (alpha + t) + g_z * (beta + t) / (alpha + t) ** 2
        grad[:, 2] = -log_b + g_c
        grad[:, 3] = -s / (beta + t) - g_z / (alpha + t)
    else:
        z = (beta - alpha) / (beta + t)
        log_g, g_b, g_c, g_z = log_hyp2f1_unit_a(s + 1, c, z, derivatives)
        value = -(r + x - 1) * log_a - (s + 1) * log_b + log_g
        grad[:, 0] = -log_a + g_c
        grad[:, 1] = -(r + x - 1) / (alpha + t) - g_z / (beta + t)
        grad[:, 2] = -log_b + g_b + g_c
        grad[:, 3] = -(s + 1) / (beta + t) + g_z * (alpha + t) / (beta + t) ** 2
    return value, grad


def _grouped_log_term(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    pairs: Levels,
    derivatives: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_log_term`, evaluated once per distinct (x, t) pair.

    The term depends on a customer through (x, t) alone, and the 2F1 series
    in it is the costliest part of the likelihood; a million customers on
    the day grain hold only thousands of distinct pairs.
    """
    x, t = pairs.values
    value, grad = _log_term(r, alpha, s, beta, x, t, derivatives)
    return value[pairs.inverse], grad[pairs.inverse]


def _likelihood_parts(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
    derivatives: bool = True,
    rows: SummaryRows | None = None,
) -> dict[str, np.ndarray]:
    """The bracket of the likelihood, alive-at-T share and their gradients.

    L = Gamma(r+x) alpha^r beta^s / Gamma(r) * [e1 + k (e2 - e3)], with
    e1 = (alpha+T)^-(r+x) (beta+T)^-s (alive at T), k = s / (r+s+x), and
    e2 - e3 = A0 (died between t_x and T). Everything is in logs; the one
    subtraction is of e3 from the larger e1 + k e2, done with log1p.
    """
    a_total = r + s + x
    log_k = np.log(s) - np.log(a_total)
    log_e1 = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    g1 = np.column_stack(
        [
            -np.log(alpha + T),
            -(r + x) / (alpha + T),
            -np.log(beta + T),
            -s / (beta + T),
        ]
    )
    rows = rows if rows is not None else SummaryRows(x, tx, T)
    log_e2, g2 = _grouped_log_term(r, alpha, s, beta, rows.recency_pairs, derivatives)
    log_e3, g3 = _grouped_log_term(r, alpha, s, beta, rows.age_pairs, derivatives)
    log_pos = np.logaddexp(log_e1, log_k + log_e2)
    # e2 >= e3 because t_x <= T; rounding can make them cross when t_x == T.
    ratio = np.minimum(np.exp(log_k + log_e3 - log_pos), 1.0)
    with np.errstate(divide="ignore"):
        log_l = log_pos + np.log1p(-ratio)
    # The bracket is at least e1: the death term is never negative.
    log_l = np.maximum(log_l, log_e1)
    w1 = np.exp(log_e1 - log_l)
    w2 = np.exp(log_k + log_e2 - log_l)
    w3 = np.exp(log_k + log_e3 - log_l)
    d_log_k = np.column_stack(
        [-1 / a_total, np.zeros_like(x), 1 / s - 1 / a_total, np.zeros_like(x)]
    )
    grad = (
        w1[:, None] * g1
        + w2[:, None] * g2
        - w3[:, None] * g3
        + (w2 - w3)[:, None] * d_log_k
    )
    return {"log_l": log_l, "grad": grad, "alive": np.clip(w1, 0.0, 1.0)}


def _p_alive(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
) -> np.ndarray:
    shape = x.shape
    parts = _likelihood_parts(
        r, alpha, s, beta, x.ravel(), tx.ravel(), T.ravel(), derivatives=False
    )
    return parts["alive"].reshape(shape)


def _live_mean(k: Any, scale: Any, s: float, beta: Any, t: np.ndarray) -> np.ndarray:
    """Expected purchases in (0, t] of a live customer.

    Here lambda ~ Gamma(k, scale) and mu ~ Gamma(s, beta).

    E[lambda] E[(1 - exp(-mu t)) / mu] = k / scale * beta / (s - 1) *
    (1 - (beta / (beta + t))^(s - 1)), with the limit beta log(1 + t / beta)
    at s = 1; expm1 keeps both the small-t and the s ~ 1 cases exact.
    """
    k, scale, beta, t = broadcast_float(k, scale, beta, t)
    log_ratio = np.log1p(t / beta)
    eps = s - 1
    if abs(eps) < 1e-12:
        factor = log_ratio
    else:
        factor = -np.expm1(-eps * log_ratio) / eps
    return k / scale * beta * factor


@cache
def _legendre_nodes() -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(_N_NODES)


def _p_n_live(
    n: np.ndarray, t: np.ndarray, k: Any, scale: Any, s: float, beta: Any
) -> np.ndarray:
    """P(n purchases in (0, t]) for a customer alive at 0, mixed over the posterior.

    Either the customer survives the period (probability (beta/(beta+t))^s)
    and makes n purchases in t, or dies at tau < t having made n purchases
    in tau. The second term, int_0^t s/(beta+tau) (beta/(beta+tau))^s
    NB(n; k, scale, tau) dtau, is integrated by Gauss-Legendre in log space,
    in chunks of rows so that memory stays bounded (rows x nodes).
    """
    n, t, k, scale, beta = broadcast_float(n, t, k, scale, beta)
    shape = n.shape
    flat = [v.ravel() for v in (n, t, k, scale, beta)]
    out = np.empty(flat[0].size)
    for start in range(0, out.size, _CHUNK_ROWS):
        part = slice(start, start + _CHUNK_ROWS)
        out[part] = _p_n_live_rows(*(v[part] for v in flat), s)
    return out.reshape(shape)


def _p_n_live_rows(
    n: np.ndarray,
    t: np.ndarray,
    k: np.ndarray,
    scale: np.ndarray,
    beta: np.ndarray,
    s: float,
) -> np.ndarray:
    survive = np.exp(
        s * (np.log(beta) - np.log(beta + t)) + nbd_log_pmf(n, k, scale, t)
    )
    nodes, weights = _legendre_nodes()
    # Map [-1, 1] to [0, t]; the trailing axis holds the nodes.
    tau = (nodes + 1) / 2 * t[:, None]
    log_density = (
        np.log(s)
        - np.log(beta[:, None] + tau)
        + s * (np.log(beta[:, None]) - np.log(beta[:, None] + tau))
    )
    # Negative binomial log-pmf at each node, with the part that does not
    # depend on tau computed once per row (scipy's logpmf is far slower).
    constant = special.gammaln(k + n) - special.gammaln(k) - special.gammaln(n + 1)
    log_total = np.log(scale[:, None] + tau)
    log_pmf = (
        constant[:, None]
        + k[:, None] * (np.log(scale[:, None]) - log_total)
        + special.xlogy(n[:, None], tau)
        - n[:, None] * log_total
    )
    log_w = np.log(weights) + np.log(np.maximum(t[:, None], 1e-300) / 2)
    died = np.exp(special.logsumexp(log_density + log_pmf + log_w, axis=-1))
    return survive + np.where(t > 0, died, 0.0)
