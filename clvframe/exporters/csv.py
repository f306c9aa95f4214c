"""Built-in ``csv`` exporter: the customer list as a CSV file, written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO

import pandas as pd

from clvframe.exporters.base import DEFAULT_TIER_CUTS
from clvframe.exporters.base import Exporter
from clvframe.exporters.base import checked_chunk_rows
from clvframe.exporters.base import write_atomically
from clvframe.hooks import hookimpl


def _write_chunk(handle: IO[str], chunk: pd.DataFrame, header: bool) -> None:
    chunk.to_csv(handle, index=False, header=header, lineterminator="\n")


class CsvExporter(Exporter):
    """Write the chosen customers to a CSV file (UTF-8, header, no index).

    The file appears complete or not at all: rows go to a temporary file beside
    it, which replaces the target only when every row is written.

    Args:
        path: The file to write (folders are created).
        chunk_rows: Rows written per step.
        segments: See :class:`~clvframe.exporters.base.Exporter`.
        columns: See :class:`~clvframe.exporters.base.Exporter`.
        tier_cut_points: See :class:`~clvframe.exporters.base.Exporter`.
    """

    name = "csv"

    def __init__(
        self,
        path: str = "exports/customers.csv",
        chunk_rows: int = 50_000,
        segments: Sequence[str] | None = None,
        columns: Sequence[str] = (),
        tier_cut_points: Sequence[float] = DEFAULT_TIER_CUTS,
    ) -> None:
        super().__init__(segments, columns, tier_cut_points)
        self.path = path
        self.chunk_rows = chunk_rows

    def write(self, frame: pd.DataFrame) -> str:
        """Write ``frame`` to ``path`` atomically."""
        step = checked_chunk_rows(self.chunk_rows, self.name)

        def fill(partial: Path) -> None:
            with open(partial, "w", encoding="utf-8", newline="") as handle:
                if frame.empty:
                    _write_chunk(handle, frame, header=True)
                for start in range(0, len(frame), step):
                    _write_chunk(handle, frame.iloc[start : start + step], start == 0)

        return str(write_atomically(self.path, fill))


@hookimpl
def clvframe_register_exporters() -> list[type[Exporter]]:
    """Register the csv exporter."""
    return [CsvExporter]
