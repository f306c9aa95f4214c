"""Built-in ``csv`` loader: a delimited text file with configurable columns."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from clvframe.data.transactions import Source
from clvframe.data.transactions import prepare_transactions
from clvframe.errors import ConfigError
from clvframe.errors import DataValidationError
from clvframe.hooks import hookimpl
from clvframe.loaders.base import Loader


class CsvLoader(Loader):
    """Read a transaction log from a CSV (or other delimited) file.

    Args:
        path: The file; ``.gz``, ``.zip`` and other compressions pandas knows
            are read as they are.
        columns: Map from canonical name (customer_id, timestamp, amount) to
            the file's column.
        date_format: ``strftime`` format of the dates; without it only ISO 8601
            dates are accepted, so ambiguous dates are never guessed.
        sep: Field separator; ``None`` sniffs it.
        invalid_amounts: ``error`` or ``drop`` (with a warning).
        deduplicate: Drop exact duplicate rows (they are always counted).
        business_timezone: Zone that aware timestamps are converted to.
        encoding: Text encoding of the file.
    """

    name = "csv"

    def __init__(
        self,
        path: str | None = None,
        columns: Mapping[str, str] | None = None,
        date_format: str | None = None,
        sep: str | None = ",",
        invalid_amounts: str = "error",
        deduplicate: bool = False,
        business_timezone: str | None = None,
        encoding: str = "utf-8",
    ) -> None:
        self.path = path
        self.columns = columns
        self.date_format = date_format
        self.sep = sep
        self.invalid_amounts = invalid_amounts
        self.deduplicate = deduplicate
        self.business_timezone = business_timezone
        self.encoding = encoding

    def load(self) -> pd.DataFrame:
        """Read the file as text and validate it."""
        if not self.path:
            raise ConfigError("loader.params.path: the csv loader needs a file path.")
        path = Path(self.path).expanduser()
        if not path.is_file():
            raise ConfigError(f"loader.params.path: {str(path)!r} is not a file.")
        try:
            raw = pd.read_csv(
                path,
                sep=self.sep,
                dtype=str,
                keep_default_na=False,
                encoding=self.encoding,
                engine="python" if self.sep is None else "c",
            )
        except pd.errors.EmptyDataError:
            raise DataValidationError(
                f"{path}: the file is empty; expected a header line with the "
                "customer id, timestamp and amount columns, then one row per order."
            ) from None
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise DataValidationError(f"{path}: cannot be read as CSV: {err}") from err
        return prepare_transactions(
            raw,
            columns=dict(self.columns or {}),
            date_format=self.date_format,
            business_timezone=self.business_timezone,
            invalid_amounts=self.invalid_amounts,
            deduplicate=self.deduplicate,
            source=Source(str(path), first_line=2),
        )


@hookimpl
def clvframe_register_loaders() -> list[type[Loader]]:
    """Register the csv loader."""
    return [CsvLoader]
