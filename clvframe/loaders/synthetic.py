"""Built-in ``synthetic`` loader: a seeded log from a known BTYD process.

Useful to check that a model recovers known parameters, to benchmark at any
size, and to try LightGBM on extra columns (channel, category).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from clvframe.data.transactions import Source
from clvframe.data.transactions import prepare_transactions
from clvframe.hooks import hookimpl
from clvframe.loaders.base import Loader


class SyntheticLoader(Loader):
    """Simulated customers from a BG/NBD or Pareto/NBD process, Gamma-Gamma spend.

    Args:
        n_customers: How many customers to simulate.
        process: ``bgnbd`` or ``paretonbd``.
        params: Purchase-process parameters (weeks); CDNOW-like by default.
        spend_params: Gamma-Gamma parameters p, q, v.
        start: Date of the first acquisition.
        acquisition_weeks: Customers are acquired uniformly over this window.
        observation_weeks: Length of the whole log.
        exact_times: Keep sub-day purchase times instead of whole days.
        extra_columns: Add ``channel`` and ``category`` columns.
        seed: Random seed; the same seed gives the same log.
    """

    name = "synthetic"

    def __init__(
        self,
        n_customers: int = 10_000,
        process: str = "bgnbd",
        params: Mapping[str, float] | None = None,
        spend_params: Mapping[str, float] | None = None,
        start: str = "2020-01-01",
        acquisition_weeks: float = 12,
        observation_weeks: float = 78,
        exact_times: bool = False,
        extra_columns: bool = False,
        seed: int = 0,
    ) -> None:
        self.n_customers = n_customers
        self.process = process
        self.params = params
        self.spend_params = spend_params
        self.start = start
        self.acquisition_weeks = acquisition_weeks
        self.observation_weeks = observation_weeks
        self.exact_times = exact_times
        self.extra_columns = extra_columns
        self.seed = seed

    def load(self) -> pd.DataFrame:
        """Simulate the log and validate it like any other source."""
        from clvframe.models.synthetic import simulate_transactions

        raw = simulate_transactions(
            int(self.n_customers),
            process=self.process,
            params=dict(self.params) if self.params else None,
            spend_params=dict(self.spend_params) if self.spend_params else None,
            start=self.start,
            acquisition_weeks=self.acquisition_weeks,
            observation_weeks=self.observation_weeks,
            exact_times=self.exact_times,
            extra_columns=self.extra_columns,
            seed=self.seed,
        )
        return prepare_transactions(raw, source=Source(f"synthetic {self.process} log"))


@hookimpl
def clvframe_register_loaders() -> list[type[Loader]]:
    """Register the synthetic loader."""
    return [SyntheticLoader]
