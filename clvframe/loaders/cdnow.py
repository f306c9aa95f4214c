"""Built-in ``cdnow`` loader: the CDNOW log that ships with clvframe.

All 23,570 customers who first bought at the online CD retailer CDNOW in the
first quarter of 1997, followed to the end of June 1998: 69,659 rows of
customer id, date, number of CDs and dollar value. Some orders are of zero
dollars; they are purchases all the same.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from clvframe.data.transactions import Source
from clvframe.data.transactions import prepare_transactions
from clvframe.hooks import hookimpl
from clvframe.loaders.base import Loader

CALIBRATION_END = "1997-09-30"
OBSERVATION_END = "1998-06-30"


def load_cdnow() -> pd.DataFrame:
    """Return the full CDNOW log as a canonical transaction frame.

    Extra column: ``n_items``, the number of CDs in the order.
    """
    path = resources.files("clvframe.datasets") / "cdnow_master.txt.gz"
    with resources.as_file(path) as file:
        raw = pd.read_csv(
            file,
            sep=r"\s+",
            dtype=str,
            compression="gzip",
        )
    raw = raw.rename(columns={"number_of_cds": "n_items"})
    frame = prepare_transactions(
        raw,
        columns={"timestamp": "date", "amount": "dollar_value"},
        date_format="%Y%m%d",
        source=Source("CDNOW_master.txt", first_line=2),
    )
    return frame.assign(n_items=frame["n_items"].astype("int64"))


class CdnowLoader(Loader):
    """The bundled CDNOW log (23,570 customers, 69,659 rows, 1997-1998)."""

    name = "cdnow"

    def __init__(self) -> None:
        pass

    def load(self) -> pd.DataFrame:
        """Read the bundled, compressed log."""
        return load_cdnow()


@hookimpl
def clvframe_register_loaders() -> list[type[Loader]]:
    """Register the cdnow loader."""
    return [CdnowLoader]
