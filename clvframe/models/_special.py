"""Special functions the models share, evaluated without overflow."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import numpy as np
from scipy import special

from clvframe.models._validation import group_rows

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
    bad = ~np.isfinite(hyp)
    if np.any(bad):
        # scipy's hyp2f1 overflows for some z > 0.9 with large c (e.g.
        # 2F1(-0.5, -0.5; 99; 0.9001) = inf, though it is about 1.002).
        hyp = np.array(hyp, copy=True)
        hyp[bad] = hyp2f1_series(c[bad] - k[bad], a[bad] - 1, c[bad], z[bad])
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
    # The closed form loses relative accuracy as t -> 0 (1 minus nearly 1);
    # there a Taylor series in u = t / scale is exact to rounding.
    small = (k + 4) * t / scale < 1e-4
    if np.any(small):
        result = np.array(result, copy=True)
        result[small] = _small_horizon_mean(
            k[small], t[small] / scale[small], a[small], b[small]
        )
    return np.where(t > 0, np.maximum(result, 0.0), 0.0)


def _small_horizon_mean(
    k: np.ndarray, u: np.ndarray, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """E_p[(1 - (1 + p u)^-k) / p] to fourth order, for (k + 4) u < 1e-4.

    The expansion is sum_n (-1)^(n+1) (k)_n / n! u^n E[p^(n-1)], whose
    terms shrink by a factor below (k + n) u; four terms leave a relative
    error under 1e-16.
    """
    total = np.zeros_like(u)
    coefficient = np.ones_like(u)  # (k)_n / n! u^n, built up term by term
    moment = np.ones_like(u)  # E[p^(n-1)] for p ~ Beta(a, b)
    for n in range(1, 5):
        coefficient = coefficient * (k + n - 1) / n * u
        if n > 1:
            moment = moment * (a + n - 2) / (a + b + n - 2)
        total += (-1) ** (n + 1) * coefficient * moment
    return total


def _offset(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Shift that centres the interpolation window on the nearby singularity."""
    dist_a = a - 1
    dist_c = c - np.round(c)
    use_a = np.abs(dist_a) < _SINGULAR_GAP
    return np.where(use_a, dist_a, dist_c)


def nbd_log_pmf(n: np.ndarray, k: np.ndarray, scale: np.ndarray, t: np.ndarray):
    """Log-probability of ``n`` Poisson events in ``t`` with a Gamma(k, scale) rate.

    The negative binomial with success probability ``scale / (scale + t)``,
    written with scipy.special (scipy.stats costs a second to import).
    """
    n, k, scale, t = np.broadcast_arrays(*map(np.asarray, (n, k, scale, t)))
    total = scale + t
    return (
        special.gammaln(n + k)
        - special.gammaln(k)
        - special.gammaln(n + 1)
        + k * (np.log(scale) - np.log(total))
        + special.xlogy(n, t / total)
    )


def nbd_sf(n: np.ndarray, k: np.ndarray, scale: np.ndarray, t: np.ndarray):
    """P(more than ``n`` events) for the negative binomial of :func:`nbd_log_pmf`.

    P(X > n) = I_q(n + 1, k), the regularised incomplete beta at the failure
    probability ``q = t / (scale + t)``.
    """
    n, k, scale, t = np.broadcast_arrays(*map(np.asarray, (n, k, scale, t)))
    return special.betainc(n + 1, k, t / (scale + t))


#: Terms of the 2F1(1, b; c; z) series in the first block of the loop; each
#: later block, for the rows still unconverged, is twice as long. Most
#: rows of a fit have small z and finish within the first block.
_FIRST_BLOCK = 8

#: The series stops once its remainder is below this fraction of its sum.
_SERIES_RTOL = 1e-17
#: Cap on the number of series terms. Only z within about 1e-3 of 1 (rates
#: a thousand-fold apart, which an optimiser visits on degenerate data)
#: reaches it; the rest of the series is then summed as a geometric tail at
#: the last term ratio, which errs by a relative O(1 / terms).
_MAX_TERMS = 16_384


def log_hyp2f1_unit_a(
    b: np.ndarray, c: np.ndarray, z: np.ndarray, derivatives: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Log 2F1(1, b; c; z) and its partial derivatives, for 0 < b < c, 0 <= z < 1.

    The series sum_k prod_{j<k} (b+j)/(c+j) z^k has positive terms whose
    ratio is below z, so it lies in [1, 1/(1-z)]: nothing overflows, and the
    remainder after a term t_k is below t_k z / (1 - z), which is the
    stopping rule. The derivatives follow term by term: d t_k / d b =
    t_k sum_{j<k} 1/(b+j), d t_k / d c = -t_k sum_{j<k} 1/(c+j) and
    d t_k / d z = k t_k / z.

    Args:
        b: Second numerator parameter (0 < b < c).
        c: Denominator parameter.
        z: Argument in [0, 1).
        derivatives: Whether to compute the derivatives (about half the
            work); without them the last three outputs are zeros.

    Returns:
        (log F, d log F / d b, d log F / d c, d log F / d z).
    """
    b, c, z = np.broadcast_arrays(*[np.asarray(v, dtype=np.float64) for v in (b, c, z)])
    shape = b.shape
    b, c, z = b.ravel(), c.ravel(), z.ravel()
    n = b.size
    total = np.ones(n)
    d_b = np.zeros(n)
    d_c = np.zeros(n)
    d_z = np.zeros(n)
    # Running state of each row: the last term and its log-derivative sums.
    term = np.ones(n)
    sum_b = np.zeros(n)
    sum_c = np.zeros(n)
    tail_factor = z / np.maximum(1 - z, 1e-300)
    active = np.flatnonzero(z > 0)
    k0 = 0
    block = _FIRST_BLOCK
    while active.size and k0 < _MAX_TERMS:
        j = np.arange(block, dtype=np.float64)
        bj = b[active, None] + k0 + j
        cj = c[active, None] + k0 + j
        ratio = bj / cj * z[active, None]
        terms = term[active, None] * np.cumprod(ratio, axis=1)
        total[active] += terms.sum(axis=1)
        if derivatives:
            # Derivative sums include factor j of the block for term j + 1.
            sb = sum_b[active, None] + np.cumsum(1.0 / bj, axis=1)
            sc = sum_c[active, None] + np.cumsum(1.0 / cj, axis=1)
            d_b[active] += (terms * sb).sum(axis=1)
            d_c[active] -= (terms * sc).sum(axis=1)
            # k t_k / z without dividing by z: t_k / z = t_{k-1} (b+k-1)/(c+k-1).
            prev = np.concatenate([term[active, None], terms[:, :-1]], axis=1)
            d_z[active] += (((k0 + 1 + j) * prev) * (bj / cj)).sum(axis=1)
            sum_b[active] = sb[:, -1]
            sum_c[active] = sc[:, -1]
        term[active] = terms[:, -1]
        done = term[active] * tail_factor[active] <= _SERIES_RTOL * total[active]
        active = active[~done]
        k0 += block
        block = min(2 * block, 4096)
    if active.size:
        ratio = (b[active] + k0) / (c[active] + k0) * z[active]
        tail = term[active] * ratio / (1 - ratio)
        total[active] += tail
        d_b[active] += tail * sum_b[active]
        d_c[active] -= tail * sum_c[active]
        d_z[active] += tail * k0 / z[active]
    out = (np.log(total), d_b / total, d_c / total, d_z / total)
    return tuple(v.reshape(shape) for v in out)  # type: ignore[return-value]


def hyp2f1_series(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, z: np.ndarray
) -> np.ndarray:
    """2F1(a, b; c; z) by direct summation, for 0 <= z < 1 and c not in {0, -1, ...}.

    A fallback where scipy's implementation fails. Terms are summed in
    blocks until, past the point where the term ratio falls below 1, the
    remainder bound |t_k| z' / (1 - z') (z' the current ratio) is below
    1e-16 of the sum.

    Args:
        a: First numerator parameter.
        b: Second numerator parameter.
        c: Denominator parameter.
        z: Argument in [0, 1).

    Returns:
        The function values.
    """
    a, b, c, z = np.broadcast_arrays(
        *[np.asarray(v, dtype=np.float64) for v in (a, b, c, z)]
    )
    shape = a.shape
    a, b, c, z = a.ravel(), b.ravel(), c.ravel(), z.ravel()
    total = np.ones(a.size)
    term = np.ones(a.size)
    active = np.flatnonzero(z > 0)
    k0 = 0
    block = 64
    while active.size and k0 < _MAX_TERMS * 4:
        n = k0 + np.arange(block, dtype=np.float64)
        ratio = (
            (a[active, None] + n)
            * (b[active, None] + n)
            / ((c[active, None] + n) * (n + 1))
            * z[active, None]
        )
        terms = term[active, None] * np.cumprod(ratio, axis=1)
        total[active] += terms.sum(axis=1)
        term[active] = terms[:, -1]
        last = np.abs(ratio[:, -1])
        shrinking = last < 1
        bound = np.abs(term[active]) * last / np.where(shrinking, 1 - last, 1.0)
        done = shrinking & (bound <= 1e-16 * np.abs(total[active]))
        active = active[~done]
        k0 += block
    return total.reshape(shape)


def softplus_and_expit(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log(1 + e^d)`` and ``1 / (1 + e^-d)``, together, overflow-free.

    Both come from ``e = exp(-|d|)``, which never overflows: softplus is
    ``max(d, 0) + log1p(e)`` and the logistic ``exp(min(d, 0)) / (1 + e)``.
    numpy's ``logaddexp(0, d)`` and scipy's ``expit`` give the same values
    (to a few units in the last place) but take about three times as long,
    and a fit evaluates them dozens of times on every distinct row.
    """
    e = np.exp(-np.abs(d))
    softplus = np.log1p(e)
    softplus += np.maximum(d, 0.0)
    logistic = np.exp(np.minimum(d, 0.0))
    e += 1.0
    logistic /= e
    return softplus, logistic


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """The sum of ``a * b`` over two vectors, on this thread.

    ``a @ b`` on vectors goes to BLAS, whose threads wait on each other when
    the machine is busy: on two shared cores a 200k-element product took
    4-8 ms instead of 0.1. Likelihood evaluations take dozens of them.
    """
    return float(np.einsum("i,i->", a, b))


class Levels:
    """The distinct rows of some columns and where each row falls, found once.

    Args:
        *columns: Equal-length one-dimensional arrays.

    Attributes:
        values: One array per column: the distinct rows, in the order of
            :func:`~clvframe.models._validation.group_rows`.
        inverse: For each row, the position of its distinct row.
    """

    def __init__(self, *columns: np.ndarray) -> None:
        first, self.inverse = group_rows(columns)
        self.values = [np.asarray(c)[first] for c in columns]


class SummaryRows:
    """Groupings of a fixed (frequency, recency, T) summary, built on first use.

    A fit evaluates the likelihood dozens of times on the same rows; the
    distinct frequencies, (frequency, recency) and (frequency, T) pairs are
    found once here instead of at every evaluation. Even a million customers
    on the day grain hold only thousands of such pairs.
    """

    def __init__(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> None:
        self.x, self.tx, self.T = x, tx, T

    @cached_property
    def frequencies(self) -> Levels:
        """Distinct frequencies."""
        return Levels(self.x)

    @cached_property
    def recency_pairs(self) -> Levels:
        """Distinct (frequency, recency) pairs."""
        return Levels(self.x, self.tx)

    @cached_property
    def age_pairs(self) -> Levels:
        """Distinct (frequency, T) pairs."""
        return Levels(self.x, self.T)


def per_level(
    x: np.ndarray | Levels, *functions: Callable[[np.ndarray], np.ndarray]
) -> list[np.ndarray]:
    """Evaluate functions of ``x`` once per distinct value and spread them back.

    Frequencies take few distinct values (tens to hundreds) across tens of
    thousands of summary rows, and the log-gamma and digamma functions of
    them dominate a likelihood evaluation; one grouping is far cheaper.

    Args:
        x: Values, typically frequencies, or their :class:`Levels` when the
            caller evaluates repeatedly on the same values.
        *functions: Vectorised functions of ``x``.

    Returns:
        Each function's values, aligned with ``x``.
    """
    if isinstance(x, Levels):
        return [f(x.values[0])[x.inverse] for f in functions]
    levels, inverse = np.unique(x, return_inverse=True)
    inverse = inverse.reshape(x.shape)
    return [f(levels)[inverse] for f in functions]


def per_pair(
    x: np.ndarray,
    t: np.ndarray,
    horizon: np.ndarray,
    function: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Evaluate ``function(x, t)`` once per distinct (x, t) pair.

    For one horizon, the expected purchases of a live customer depend on
    (frequency, T) alone, through a hypergeometric function; a million
    customers on the day grain hold a few thousand such pairs. Other shapes
    (several horizons broadcast against the customers) are evaluated as
    they are.
    """
    if horizon.ndim != 0 or x.ndim != 1 or x.shape != t.shape or x.size < 64:
        return function(x, t)
    pairs = Levels(x, t)
    return function(*pairs.values)[pairs.inverse]
