"""Synthetic transaction logs drawn from the buy-till-you-die models.

The logs have the framework's canonical columns, so they exercise the whole
pipeline (summary, fit, forecast) on data whose true parameters are known.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

#: CDNOW-like purchase parameters, in weeks (Fader, Hardie and Lee 2005).
DEFAULT_PARAMS: dict[str, dict[str, float]] = {
    "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    "paretonbd": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.668},
}

#: CDNOW-like Gamma-Gamma spend parameters (dollars).
DEFAULT_SPEND_PARAMS: dict[str, float] = {"p": 6.25, "q": 3.74, "v": 15.44}

#: Channels of the ``extra_columns`` option, their shares, and their spend
#: multipliers: "app" customers spend twice as much, a signal a feature-based
#: model can learn and the probabilistic models cannot see.
CHANNELS = ("web", "store", "app")
CHANNEL_SHARES = (0.5, 0.3, 0.2)
CHANNEL_SPEND = (1.0, 1.0, 2.0)
CATEGORIES = ("music", "books", "games", "video")


def simulate_transactions(
    n_customers: int,
    *,
    process: str = "bgnbd",
    params: Mapping[str, float] | None = None,
    spend_params: Mapping[str, float] | None = None,
    start: str = "2020-01-01",
    acquisition_weeks: float = 12,
    observation_weeks: float = 78,
    exact_times: bool = False,
    extra_columns: bool = False,
    seed: int = 0,
) -> pd.DataFrame:
    """Draw a transaction log from BG/NBD or Pareto/NBD with Gamma-Gamma spend.

    Each customer's first purchase falls uniformly in the first
    ``acquisition_weeks`` after ``start``; the log ends ``observation_weeks``
    after ``start``. Every transaction's amount is Gamma(p, nu) with the
    customer's nu ~ Gamma(q, v) (shape, rate), as the Gamma-Gamma model
    assumes.

    Args:
        n_customers: Number of customers (>= 1).
        process: ``"bgnbd"`` (dropout after a repeat purchase with
            probability p ~ Beta(a, b)) or ``"paretonbd"`` (exponential
            lifetimes with rate mu ~ Gamma(s, beta)).
        params: Purchase parameters in weeks; CDNOW-like defaults.
        spend_params: Gamma-Gamma ``p``, ``q``, ``v``; CDNOW-like defaults.
        start: First day of the acquisition period.
        acquisition_weeks: Length of the acquisition period.
        observation_weeks: Time from ``start`` to the end of the log.
        exact_times: Keep sub-day timestamps. By default they are truncated
            to the day, as in real logs, so that same-day purchases merge in
            the summary.
        extra_columns: Add ``channel`` (per customer; "app" doubles spend)
            and ``category`` (per transaction, no signal).
        seed: Seed of the random generator; the same seed gives the same log.

    Returns:
        A frame with ``customer_id`` (str), ``timestamp`` (datetime64),
        ``amount`` (float), sorted by customer and time.

    Raises:
        ValueError: If an argument is out of range.
    """
    if process not in DEFAULT_PARAMS:
        raise ValueError(
            f"process must be one of {sorted(DEFAULT_PARAMS)}; got {process!r}."
        )
    if n_customers < 1:
        raise ValueError(f"n_customers must be >= 1; got {n_customers!r}.")
    if not 0 < acquisition_weeks <= observation_weeks:
        raise ValueError(
            "need 0 < acquisition_weeks <= observation_weeks; got "
            f"{acquisition_weeks!r} and {observation_weeks!r}."
        )
    purchase = _merge_params(DEFAULT_PARAMS[process], params, "params")
    spend = _merge_params(DEFAULT_SPEND_PARAMS, spend_params, "spend_params")
    rng = np.random.default_rng(seed)

    first = rng.uniform(0, acquisition_weeks, n_customers)
    window = observation_weeks - first
    customer, offset = _repeat_purchases(rng, process, purchase, window)
    # One row per purchase: the first (offset 0) then the repeats.
    customer = np.concatenate([np.arange(n_customers), customer])
    offset = np.concatenate([np.zeros(n_customers), offset])
    # Repeats come sorted within each customer; a stable sort on the customer
    # alone puts each first purchase before them.
    order = np.argsort(customer, kind="stable")
    customer, offset = customer[order], offset[order]
    weeks = first[customer] + offset

    nu = rng.gamma(spend["q"], 1 / spend["v"], n_customers)
    amount = rng.gamma(spend["p"], 1 / nu[customer])
    frame = {"customer_id": _customer_ids(n_customers).take(customer)}
    frame["timestamp"] = _timestamps(start, weeks, exact_times)
    if extra_columns:
        channel = rng.choice(len(CHANNELS), n_customers, p=CHANNEL_SHARES)
        amount = amount * np.asarray(CHANNEL_SPEND)[channel[customer]]
        frame["amount"] = amount
        frame["channel"] = pd.Index(CHANNELS).take(channel[customer])
        category = rng.integers(0, len(CATEGORIES), customer.size)
        frame["category"] = pd.Index(CATEGORIES).take(category)
    else:
        frame["amount"] = amount
    logger.info(
        "Simulated %d transactions of %d customers (%s)",
        customer.size,
        n_customers,
        process,
    )
    columns = ["customer_id", "timestamp", "amount"]
    if extra_columns:
        columns += ["channel", "category"]
    return pd.DataFrame(frame, columns=columns)


def _merge_params(
    defaults: Mapping[str, float], given: Mapping[str, float] | None, name: str
) -> dict[str, float]:
    merged = dict(defaults)
    if given:
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise ValueError(
                f"{name}: unknown parameters {unknown}; expected {sorted(defaults)}."
            )
        merged.update({k: float(v) for k, v in given.items()})
    bad = {k: v for k, v in merged.items() if not v > 0}
    if bad:
        raise ValueError(f"{name}: parameters must be positive; got {bad}.")
    return merged


def _repeat_purchases(
    rng: np.random.Generator,
    process: str,
    params: Mapping[str, float],
    window: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Customer index and time since the first purchase of each repeat purchase."""
    n = window.size
    rate = rng.gamma(params["r"], 1 / params["alpha"], n)
    if process == "paretonbd":
        mu = rng.gamma(params["s"], 1 / params["beta"], n)
        lifetime = rng.exponential(1, n) / mu
        active = np.minimum(window, lifetime)
        # Purchases of a Poisson process on [0, active]: a Poisson count of
        # uniform times.
        count = rng.poisson(rate * active)
        customer = np.repeat(np.arange(n), count)
        fraction = _sorted_uniforms(rng, customer)
        return customer, fraction * active[customer]

    # BG/NBD: the customer makes `budget` repeat purchases before dropping out
    # right after the last of them (geometric), unless the window ends first.
    dropout = rng.beta(params["a"], params["b"], n)
    budget = rng.geometric(dropout)
    count = rng.poisson(rate * window)
    customer = np.repeat(np.arange(n), count)
    offset = _sorted_uniforms(rng, customer) * window[customer]
    # Rank of each purchase within its customer: keep the first `budget`.
    starts = np.concatenate([[0], np.cumsum(count)[:-1]])
    rank = np.arange(customer.size) - np.repeat(starts, count)
    keep = rank < budget[customer]
    return customer[keep], offset[keep]


def _sorted_uniforms(rng: np.random.Generator, customer: np.ndarray) -> np.ndarray:
    """Uniform(0, 1) draws, ascending within each run of equal ``customer``.

    ``customer`` must be grouped (as np.repeat makes it). Sorting
    customer + u in one float key orders by customer, then by u, at a
    resolution of about 1e-10 for a million customers.
    """
    u = rng.uniform(0, 1, customer.size)
    order = np.argsort(customer + u * (1 - 1e-9))
    return u[order]


def _customer_ids(n: int) -> pd.Index:
    width = len(str(n))
    return "C" + pd.Index(np.arange(n)).astype(str).str.zfill(width)


def _timestamps(start: str, weeks: np.ndarray, exact: bool) -> pd.DatetimeIndex:
    origin = pd.Timestamp(start)
    if exact:
        # Whole microseconds keep the timestamps exact at any scale.
        micros = np.round(weeks * 7 * 86_400 * 1e6).astype("int64")
        return origin + pd.to_timedelta(micros, unit="us")
    days = np.floor(weeks * 7).astype("int64")
    return origin + pd.to_timedelta(days, unit="D")
