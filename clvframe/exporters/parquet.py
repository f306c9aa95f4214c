"""Built-in ``parquet`` exporter: the customer list as a Parquet file (pyarrow)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from clvframe.exporters.base import DEFAULT_TIER_CUTS
from clvframe.exporters.base import Exporter
from clvframe.exporters.base import checked_chunk_rows
from clvframe.exporters.base import write_atomically
from clvframe.hooks import hookimpl


def _write_row_group(writer: Any, table: Any) -> None:
    writer.write_table(table)


class ParquetExporter(Exporter):
    """Write the chosen customers to a Parquet file, one row group per chunk.

    The file appears complete or not at all: row groups go to a temporary file
    beside it, which replaces the target only after the footer is written.

    Args:
        path: The file to write (folders are created).
        chunk_rows: Rows per row group.
        compression: Parquet codec (``snappy``, ``zstd``, ``gzip``, ``none``).
        segments: See :class:`~clvframe.exporters.base.Exporter`.
        columns: See :class:`~clvframe.exporters.base.Exporter`.
        tier_cut_points: See :class:`~clvframe.exporters.base.Exporter`.
    """

    name = "parquet"

    def __init__(
        self,
        path: str = "exports/customers.parquet",
        chunk_rows: int = 100_000,
        compression: str = "snappy",
        segments: Sequence[str] | None = None,
        columns: Sequence[str] = (),
        tier_cut_points: Sequence[float] = DEFAULT_TIER_CUTS,
    ) -> None:
        super().__init__(segments, columns, tier_cut_points)
        self.path = path
        self.chunk_rows = chunk_rows
        self.compression = compression

    def write(self, frame: pd.DataFrame) -> str:
        """Write ``frame`` to ``path`` atomically."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        step = checked_chunk_rows(self.chunk_rows, self.name)
        table = pa.Table.from_pandas(frame, preserve_index=False)

        def fill(partial: Path) -> None:
            with pq.ParquetWriter(
                partial, table.schema, compression=self.compression
            ) as writer:
                for start in range(0, max(table.num_rows, 1), step):
                    _write_row_group(writer, table.slice(start, step))

        return str(write_atomically(self.path, fill))


@hookimpl
def clvframe_register_exporters() -> list[type[Exporter]]:
    """Register the parquet exporter."""
    return [ParquetExporter]
