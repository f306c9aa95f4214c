"""Batch scoring of a transaction log file with a packaged CLV model.

Memory stays bounded on large logs: the log is streamed once and its rows are
spread over chunks by a hash of the customer id, each chunk written to a
temporary Parquet file, so that every customer's rows land in one chunk.
Each chunk is then scored by the pyfunc model's own ``predict`` (the model
of ``mlflow.pyfunc.load_model``) and appended to the output. A customer's
forecast depends only on their own rows, and value tiers are frozen at
training (:func:`clvframe.serving.scorer.freeze_segmenter`), so the scores
equal those of one ``predict`` call on the whole log.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
import time
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import BarColumn
from rich.progress import MofNCompleteColumn
from rich.progress import Progress
from rich.progress import TextColumn
from rich.progress import TimeElapsedColumn

from clvframe.errors import ClvframeError
from clvframe.errors import ConfigError
from clvframe.serving.scorer import LATEST
from clvframe.tracking.mlflow import resolve_tracking_uri

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
DEFAULT_CHUNK_ROWS = 1_000_000
_BLOCK_SIZE = 16 << 20

logger = logging.getLogger(__name__)


class ScoringError(ClvframeError):
    """Batch scoring failed: a file could not be read or a chunk was refused."""


@dataclass(frozen=True)
class ScoreReport:
    """What a batch scoring run did."""

    rows: int
    customers: int
    chunks: int
    seconds: float
    output: Path


def file_format(path: str | Path) -> str:
    """``csv`` or ``parquet``, from the file name (``.csv.gz`` is CSV).

    Raises:
        ConfigError: The extension is neither.
    """
    suffixes = [s.lower() for s in Path(path).suffixes]
    for suffix in reversed(suffixes):
        if suffix in FORMATS:
            return FORMATS[suffix]
    raise ConfigError(
        f"{path}: cannot tell the format from the name; use a .csv (optionally "
        ".csv.gz) or .parquet file."
    )


@contextlib.contextmanager
def tracking_uri(uri: str | None) -> Iterator[str]:
    """Point MLflow at ``uri`` (resolved as for runs) and restore it afterwards."""
    import mlflow

    resolved = resolve_tracking_uri(uri)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(resolved)
    try:
        yield resolved
    finally:
        mlflow.set_tracking_uri(previous)


def load_model(model_uri: str, *, tracking: str | None = None) -> PyFuncModel:
    """Load a pyfunc model, resolving ``models:/`` URIs in the tracking store."""
    import mlflow

    with tracking_uri(tracking):
        return mlflow.pyfunc.load_model(model_uri)


def score_file(
    model: str | PyFuncModel,
    input_path: str | Path,
    output_path: str | Path,
    *,
    params: Mapping[str, Any] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    tracking: str | None = None,
    console: Console | None = None,
    progress: bool = True,
) -> ScoreReport:
    """Score a CSV or Parquet transaction log into a CSV or Parquet file.

    Args:
        model: A model URI (``models:/NAME@champion``, ``runs:/...``, a path)
            or a loaded pyfunc model.
        input_path: The log: customer_id, timestamp, amount, extra columns.
            CSV columns are read as text, as a request's would be parsed.
        output_path: Where the scores go (one row per customer, grouped by
            chunk). Written to a temporary name and renamed at the end.
        params: Scoring parameters (``as_of``, ``horizon``, ...); the model's
            defaults otherwise. ``as_of="latest"`` is the file's last day.
        chunk_rows: About this many log rows per chunk; each chunk holds whole
            customers.
        tracking: Tracking store for ``models:/`` URIs.
        console: Where the progress bar goes (stderr by default).
        progress: Show the progress bar.

    Raises:
        ScoringError: The input cannot be read, or the model refused a chunk.
        ConfigError: A file name has an unknown extension or ``chunk_rows`` is
            not positive.
    """
    started = time.perf_counter()
    source, target = Path(input_path), Path(output_path)
    in_format, out_format = file_format(source), file_format(target)
    if chunk_rows < 1:
        raise ConfigError(f"chunk_rows must be a positive number; got {chunk_rows!r}.")
    if not source.is_file():
        raise ScoringError(f"{source}: no such file.")
    pyfunc = load_model(model, tracking=tracking) if isinstance(model, str) else model
    options = dict(params or {})

    bar = _progress(console, progress)
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        bar,
        tempfile.TemporaryDirectory(
            prefix=".clvframe-score-", dir=target.parent
        ) as tmp,
    ):
        chunks = _partition(source, in_format, Path(tmp), chunk_rows, options, bar)
        partial = Path(tmp) / f"scores{target.suffix}"
        customers = _score_chunks(pyfunc, chunks, partial, out_format, options, bar)
        os.replace(partial, target)

    report = ScoreReport(
        rows=chunks.rows,
        customers=customers,
        chunks=len(chunks.files),
        seconds=round(time.perf_counter() - started, 3),
        output=target,
    )
    logger.debug(
        "Scored %d customers (%d rows, %d chunks) into %s in %.1f s",
        report.customers,
        report.rows,
        report.chunks,
        target,
        report.seconds,
    )
    return report


def _progress(console: Console | None, enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


# --- pass 1: spread the rows over chunks by customer -----------------------------


@dataclass
class _Chunks:
    files: list[Path]
    rows: int
    latest: pd.Timestamp | None


def _batches(path: Path, fmt: str) -> tuple[Iterator[pa.RecordBatch], int]:
    """Stream the file's record batches; also estimate its number of rows."""
    if fmt == "parquet":
        try:
            parquet = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as err:
            raise ScoringError(
                f"{path}: not a readable Parquet file ({err})."
            ) from None
        return parquet.iter_batches(batch_size=256_000), parquet.metadata.num_rows
    try:
        probe = pv.open_csv(path, read_options=pv.ReadOptions(block_size=1 << 20))
        names = probe.schema.names
        probe.close()
        estimate = _estimate_rows(path)
    except (OSError, pa.ArrowException) as err:
        raise ScoringError(f"{path}: not a readable CSV file ({err}).") from None
    # Every column as text, as the CSV loader reads a training log: ids keep
    # their leading zeros and the model parses amounts and dates itself.
    reader = pv.open_csv(
        path,
        read_options=pv.ReadOptions(block_size=_BLOCK_SIZE),
        convert_options=pv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return iter(reader), estimate


def _estimate_rows(path: Path) -> int:
    """Rows of a CSV file, from the line length of its first mebibyte."""
    size = 1 << 20
    with pa.input_stream(str(path), compression="detect") as stream:
        head = stream.read(size)
    lines = head.count(b"\n")
    if len(head) < size:
        return max(lines - 1, 1)
    compressed = path.suffix.lower() in (".gz", ".bz2", ".zst")
    # A compressed file holds about five times its size in text.
    text_bytes = path.stat().st_size * (5 if compressed else 1)
    return max(int(text_bytes * lines / len(head)), 1)


def _partition(
    path: Path,
    fmt: str,
    folder: Path,
    chunk_rows: int,
    params: dict[str, Any],
    bar: Progress,
) -> _Chunks:
    batches, estimate = _batches(path, fmt)
    n_chunks = max(1, math.ceil(estimate / chunk_rows))
    want_latest = str(params.get("as_of", "")).strip().lower() == LATEST
    task = bar.add_task("reading the log", total=estimate)
    writers: dict[int, pq.ParquetWriter] = {}
    files = [folder / f"chunk-{k:05d}.parquet" for k in range(n_chunks)]
    rows, latest = 0, None
    try:
        for batch in batches:
            _check_columns(batch, path)
            if want_latest:
                latest = _later(latest, _batch_latest(batch))
            for k, part in _split(batch, n_chunks):
                if k not in writers:
                    writers[k] = pq.ParquetWriter(files[k], part.schema)
                writers[k].write_table(part)
            rows += batch.num_rows
            bar.update(task, completed=min(rows, estimate))
    except pa.ArrowException as err:
        raise ScoringError(
            f"{path}: could not be read after row {rows} ({err})."
        ) from None
    finally:
        for writer in writers.values():
            writer.close()
    bar.update(task, total=rows, completed=rows)
    if rows == 0:
        raise ScoringError(f"{path}: the log has no rows.")
    if want_latest and latest is not None:
        params["as_of"] = str(latest.date())
    return _Chunks([files[k] for k in sorted(writers)], rows, latest)


def _check_columns(batch: pa.RecordBatch, path: Path) -> None:
    missing = [
        c for c in ("customer_id", "timestamp", "amount") if c not in batch.schema.names
    ]
    if missing:
        raise ScoringError(
            f"{path}: missing column(s) {missing}; the log needs customer_id, "
            f"timestamp and amount; it has {batch.schema.names}."
        )


def _split(batch: pa.RecordBatch, n_chunks: int) -> Iterator[tuple[int, pa.Table]]:
    """Rows of the batch by chunk: a hash of the customer id modulo the count."""
    table = pa.Table.from_batches([batch])
    if n_chunks == 1:
        yield 0, table
        return
    ids = batch.column("customer_id").to_pandas()
    keys = pd.util.hash_pandas_object(ids, index=False).to_numpy() % np.uint64(n_chunks)
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys.astype("int64"), minlength=n_chunks)
    ordered = table.take(pa.array(order))
    start = 0
    for k, count in enumerate(counts):
        if count:
            yield k, ordered.slice(start, int(count))
        start += int(count)


def _batch_latest(batch: pa.RecordBatch) -> pd.Timestamp | None:
    stamps = batch.column("timestamp").to_pandas()
    if not pd.api.types.is_datetime64_any_dtype(stamps):
        stamps = pd.to_datetime(stamps, format="ISO8601", errors="coerce", utc=True)
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_localize(None)
    latest = stamps.max()
    return None if pd.isna(latest) else pd.Timestamp(latest)


def _later(a: pd.Timestamp | None, b: pd.Timestamp | None) -> pd.Timestamp | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


# --- pass 2: score each chunk, append to the output --------------------------------


def _score_chunks(
    model: PyFuncModel,
    chunks: _Chunks,
    output: Path,
    fmt: str,
    params: dict[str, Any],
    bar: Progress,
) -> int:
    from mlflow.exceptions import MlflowException

    task = bar.add_task("scoring customers", total=len(chunks.files))
    writer: pq.ParquetWriter | None = None
    customers = 0
    try:
        for k, file in enumerate(chunks.files):
            frame = pq.read_table(file).to_pandas()
            file.unlink()
            try:
                scores = model.predict(frame, params=params or None)
            except MlflowException as err:
                raise ScoringError(
                    f"chunk {k + 1} of {len(chunks.files)} (rows counted within the "
                    f"chunk): {err.message}"
                ) from None
            writer = _append(scores, output, fmt, writer, first=k == 0)
            customers += len(scores)
            bar.advance(task)
    finally:
        if writer is not None:
            writer.close()
    return customers


def _append(
    scores: pd.DataFrame,
    output: Path,
    fmt: str,
    writer: pq.ParquetWriter | None,
    *,
    first: bool,
) -> pq.ParquetWriter | None:
    if fmt == "csv":
        scores.to_csv(output, mode="w" if first else "a", header=first, index=False)
        return None
    table = pa.Table.from_pandas(scores, preserve_index=False)
    if writer is None:
        writer = pq.ParquetWriter(output, table.schema)
    writer.write_table(table.cast(writer.schema))
    return writer
