"""The exporter contract: send the customer list of chosen segments somewhere.

An exporter turns the per-customer frame of a run (or of ``clvframe score``)
into a list for activation: ``customer_id``, ``segment``, ``tier``, ``clv``
(predicted CLV), ``p_alive`` and the columns the user names, stack-ranked by
predicted CLV. Exporters never leave partial output: files are written to a
temporary file in the target folder and renamed over the target only when
complete; database writes happen in one transaction.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from clvframe._component import Component
from clvframe.errors import ConfigError
from clvframe.errors import DataValidationError
from clvframe.segmenters.tiers import ValueTiers

BASE_COLUMNS = ("customer_id", "segment", "tier", "clv", "p_alive")
DEFAULT_TIER_CUTS = (0.01, 0.05, 0.10, 0.25)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportResult:
    """What one exporter wrote.

    Attributes:
        exporter: The exporter's registered name.
        location: Where the rows went (a path, or ``url#table``).
        rows: Number of customers written.
    """

    exporter: str
    location: str
    rows: int


def write_atomically(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write a file through a temporary file in its folder, then rename it.

    ``write`` receives the temporary path and fills it. Only when it returns is
    the file flushed to disk and renamed over ``path`` (``os.replace``, atomic
    on one file system), so a reader sees either the previous file or the
    complete new one. If ``write`` raises, the temporary file is removed and
    ``path`` is left as it was.

    Returns:
        The final path.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    os.close(handle)
    partial = Path(temporary)
    try:
        write(partial)
        with open(partial, "rb+") as written:
            os.fsync(written.fileno())
        os.chmod(partial, _file_mode(target))
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target


def checked_chunk_rows(value: object, name: str) -> int:
    """Check an exporter's ``chunk_rows`` parameter and return it.

    Raises:
        ConfigError: It is not a whole number >= 1.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(
            f"export.{name}.params.chunk_rows: must be a whole number >= 1; got "
            f"{value!r}."
        )
    return value


def _file_mode(target: Path) -> int:
    """The mode a plain ``open`` would give: the old file's, or 0o666 less umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        # NB: reading the umask means setting it; set it straight back.
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


class Exporter(Component):
    """Base class of exporters; subclasses implement :meth:`write`.

    Every exporter takes the selection parameters below; subclasses add where
    to write. Constructor arguments are the ``export.<key>.params`` of the
    config.

    Args:
        segments: Export only customers in these segments (all when empty).
        columns: Further columns of the customer frame to include, e.g.
            ``[expected_purchases, historic_clv, r_score]``.
        tier_cut_points: Value tiers for the ``tier`` column when the frame
            has none (top shares of predicted CLV, as the ``tiers`` segmenter).
    """

    config_group: ClassVar[str] = "export"

    def __init__(
        self,
        segments: Sequence[str] | None = None,
        columns: Sequence[str] = (),
        tier_cut_points: Sequence[float] = DEFAULT_TIER_CUTS,
    ) -> None:
        self.segments = segments
        self.columns = columns
        self.tier_cut_points = tier_cut_points

    def write(self, frame: pd.DataFrame) -> str:
        """Write the selected rows atomically; return where they went."""
        raise NotImplementedError

    def export(self, customers: pd.DataFrame) -> ExportResult:
        """Select the rows and columns to export and write them.

        Args:
            customers: One row per customer, ``customer_id`` as the index or a
                column, with ``clv`` and, where known, ``segment``, ``tier``,
                ``p_alive``.

        Returns:
            Where the rows went and how many there were.
        """
        frame = self.select(customers)
        location = self.write(frame)
        logger.info(
            "Exported %d customers with %s to %s", len(frame), self.name, location
        )
        return ExportResult(self.name, location, len(frame))

    def select(self, customers: pd.DataFrame) -> pd.DataFrame:
        """The rows and columns to export, highest predicted CLV first.

        Raises:
            ConfigError: A named segment or column does not exist.
            DataValidationError: The frame has no ``clv`` column.
        """
        frame = _with_customer_id(customers)
        if "clv" not in frame.columns:
            raise DataValidationError(
                f"export.{self.name}: the customer frame has no 'clv' column (have "
                f"{list(frame.columns)}); export a forecast."
            )
        if "tier" not in frame.columns:
            tiers = ValueTiers(cut_points=list(self.tier_cut_points))
            frame["tier"] = tiers.assign(frame.set_index("customer_id")).to_numpy()
        frame = frame[self._segment_mask(frame)]
        extra = [c for c in self.columns if c not in BASE_COLUMNS]
        missing = [c for c in extra if c not in frame.columns]
        if missing:
            raise ConfigError(
                f"export.{self.name}.params.columns: {missing} are not columns of the "
                f"customer frame; choose from {sorted(frame.columns)}."
            )
        chosen = [c for c in BASE_COLUMNS if c in frame.columns] + extra
        frame = frame[chosen].sort_values(
            ["clv", "customer_id"], ascending=[False, True], kind="stable"
        )
        return _plain_types(frame.reset_index(drop=True))

    def _segment_mask(self, frame: pd.DataFrame) -> pd.Series:
        wanted = [str(s) for s in (self.segments or [])]
        if not wanted:
            return pd.Series(True, index=frame.index)
        if "segment" not in frame.columns:
            raise ConfigError(
                f"export.{self.name}.params.segments: the customers have no segment; "
                "choose a segmenter (e.g. segmenter=rfm) or export all customers "
                "(segments: null)."
            )
        labels = frame["segment"]
        known = (
            [str(c) for c in labels.cat.categories]
            if isinstance(labels.dtype, pd.CategoricalDtype)
            else sorted(labels.dropna().astype(str).unique())
        )
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise ConfigError(
                f"export.{self.name}.params.segments: {unknown} are not segments of "
                f"this run; choose from {known}."
            )
        return labels.astype(str).isin(wanted)


def _with_customer_id(customers: pd.DataFrame) -> pd.DataFrame:
    if "customer_id" in customers.columns:
        return customers.reset_index(drop=True)
    frame = customers.reset_index()
    first = frame.columns[0]
    return frame.rename(columns={first: "customer_id"})


def _plain_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Labels and ids as strings, so every format reads them back alike."""
    plain = frame.copy()
    for column in plain.columns:
        dtype = plain[column].dtype
        if isinstance(dtype, pd.CategoricalDtype) or dtype is np.dtype(object):
            plain[column] = plain[column].astype("string")
    return plain
