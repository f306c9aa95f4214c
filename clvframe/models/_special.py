"""Special functions the models share, evaluated without overflow."""

from __future__ import annotations

import numpy as np
from scipy import special
from scipy import stats

#: Distance from a removable singularity within which a closed form is
#: replaced by interpolation between two well-conditioned points.
_SINGULAR_GAP = 1e-4


def _beta_geometric_mean_raw(
    k: np.ndarray, scale: np.ndarray, a: np.ndarray, b: np.ndarray, t: np.ndarray
) -> np.ndarray:
    c = a + b - 1
    log_one_minus_z = np.log(scale) - np.log(scale + t)
    z = t / (scale + t)
    # Euler's transformation of 2F1(k, b; c; z) folds the (1-z)^k prefactor
    # into (1-z)^(a-1): nothing large is formed even for k in the thousands.
    hyp = special.hyp2f1(c - k, a - 1, c, z)
    bracket = -np.expm1((a - 1) * log_one_minus_z) - np.exp(
        (a - 1) * log_one_minus_z
    ) * (hyp - 1)
    return c / (a - 1) * bracket


def beta_geometric_mean(
    k: np.ndarray, scale: np.ndarray, a: np.ndarray, b: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """Expected purchases in ``t`` of a live BG/NBD-type customer.

    Computes E[(1 - exp(-lambda p t)) / p] for lambda ~ Gamma(k, scale) and
    p ~ Beta(a, b): the expected number of purchases in (0, t] of a customer
    alive at 0 who purchases at rate lambda and drops out after each purchase
    with probability p. In closed form (Fader, Hardie and Lee 2005, eq. 9)
    this is ``(a+b-1)/(a-1) * [1 - (scale/(scale+t))^k 2F1(k, b; a+b-1;
    t/(scale+t))]``, which has removable singularities at a = 1 and at
    a + b - 1 in {0, -1, ...}; near them the value is interpolated linearly
    in ``a`` between two points a safe distance away (error O(1e-8) relative).

    Args:
        k: Shape of the purchase-rate distribution.
        scale: Rate (inverse scale) of the purchase-rate distribution.
        a: First shape of the dropout-probability distribution.
        b: Second shape of the dropout-probability distribution.
        t: Length of the period (>= 0).

    Returns:
        The expectation, broadcast over the arguments.
    """
    k, scale, a, b, t = np.broadcast_arrays(
        *[np.asarray(v, dtype=np.float64) for v in (k, scale, a, b, t)]
    )
    c = a + b - 1
    near_c = (c < _SINGULAR_GAP) & (np.abs(c - np.round(c)) < _SINGULAR_GAP)
    near = (np.abs(a - 1) < _SINGULAR_GAP) | near_c
    with np.errstate(divide="ignore", invalid="ignore"):
        result = _beta_geometric_mean_raw(k, scale, a, b, t)
    if np.any(near):
        # Two points 2-3 gaps away on either side; both are regular because
        # the singularities in a are at least 1 apart.
        lo = a[near] - 2 * _SINGULAR_GAP - _offset(a[near], c[near])
        hi = lo + 5 * _SINGULAR_GAP
        args = (k[near], scale[near])
        f_lo = _beta_geometric_mean_raw(*args, lo, b[near], t[near])
        f_hi = _beta_geometric_mean_raw(*args, hi, b[near], t[near])
        result = np.array(result, copy=True)
        result[near] = f_lo + (a[near] - lo) * (f_hi - f_lo) / (hi - lo)
    return np.where(t > 0, result, 0.0)


def _offset(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Shift that centres the interpolation window on the nearby singularity."""
    dist_a = a - 1
    dist_c = c - np.round(c)
    use_a = np.abs(dist_a) < _SINGULAR_GAP
    return np.where(use_a, dist_a, dist_c)


def nbd_log_pmf(n: np.ndarray, k: np.ndarray, scale: np.ndarray, t: np.ndarray):
    """Log-probability of ``n`` Poisson events in ``t`` with a Gamma(k, scale) rate."""
    return stats.nbinom.logpmf(n, k, scale / (scale + t))


def nbd_sf(n: np.ndarray, k: np.ndarray, scale: np.ndarray, t: np.ndarray):
    """P(more than ``n`` events) for the negative binomial of :func:`nbd_log_pmf`."""
    return stats.nbinom.sf(n, k, scale / (scale + t))
