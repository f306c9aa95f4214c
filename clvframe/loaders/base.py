"""The loader contract: a configured source that returns a canonical log."""

from __future__ import annotations

from typing import ClassVar

import pandas as pd

from clvframe._component import Component


class Loader(Component):
    """Base class of transaction loaders.

    A loader's constructor arguments are its config keys (``loader.*`` less
    ``name``). :meth:`load` returns a validated canonical log: use
    :func:`clvframe.prepare_transactions` on what the source gives.
    """

    params_key: ClassVar[str] = "loader.params"

    def load(self) -> pd.DataFrame:
        """Read the source and return the canonical, validated log."""
        raise NotImplementedError
