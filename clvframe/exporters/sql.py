"""Built-in ``sql`` exporter: the customer list as a table of any SQLAlchemy database.

SQLite is the default, so it runs with no server; any URL SQLAlchemy reaches
works (``postgresql+psycopg://...``, ``mysql+pymysql://...``), given its driver.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from clvframe.errors import ConfigError
from clvframe.exporters.base import DEFAULT_TIER_CUTS
from clvframe.exporters.base import Exporter
from clvframe.exporters.base import checked_chunk_rows
from clvframe.hooks import hookimpl

IF_EXISTS = ("replace", "append", "fail")

logger = logging.getLogger(__name__)


def _insert_rows(connection: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    connection.execute(table.insert(), rows)


def _column_type(series: pd.Series) -> Any:
    import sqlalchemy as sa

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return sa.Boolean()
    if pd.api.types.is_integer_dtype(dtype):
        return sa.BigInteger()
    if pd.api.types.is_float_dtype(dtype):
        return sa.Float()
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return sa.DateTime()
    return sa.Text()


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain Python values, missing values as None (SQL NULL)."""
    plain = frame.astype(object).where(frame.notna(), None)
    columns = list(frame.columns)
    return [
        dict(zip(columns, row, strict=True)) for row in plain.itertuples(index=False)
    ]


def _engine(url: str) -> Any:
    """An engine whose transactions cover DDL too, on SQLite as elsewhere."""
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    engine = sa.create_engine(parsed)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)

        # NB: Python's sqlite3 driver opens transactions only before DML, so a
        # DROP or CREATE TABLE would commit on its own. Take over: no implicit
        # transactions, and BEGIN when SQLAlchemy begins (SQLAlchemy's
        # documented recipe for transactional DDL on pysqlite).
        @sa.event.listens_for(engine, "connect")
        def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN")

    return engine


class SqlExporter(Exporter):
    """Write the chosen customers to a database table, in one transaction.

    The table is dropped and created again (``replace``), appended to
    (``append``) or refused if it exists (``fail``), and every row is inserted,
    all in one transaction: if anything fails, the database is left as it was.

    Note:
        Databases whose DDL commits implicitly (MySQL, Oracle) cannot undo the
        DROP/CREATE of ``replace`` on failure; there, ``append`` into a table
        emptied by your own job keeps the export atomic. SQLite and PostgreSQL
        roll back DDL with the rest.

    Args:
        url: SQLAlchemy database URL; a SQLite file by default (its folder is
            created).
        table: Table name.
        schema: Database schema (namespace), when the database has them.
        if_exists: ``replace``, ``append`` or ``fail``.
        chunk_rows: Rows per INSERT batch.
        segments: See :class:`~clvframe.exporters.base.Exporter`.
        columns: See :class:`~clvframe.exporters.base.Exporter`.
        tier_cut_points: See :class:`~clvframe.exporters.base.Exporter`.
    """

    name = "sql"

    def __init__(
        self,
        url: str = "sqlite:///exports/clvframe.db",
        table: str = "customer_segments",
        schema: str | None = None,
        if_exists: str = "replace",
        chunk_rows: int = 10_000,
        segments: Sequence[str] | None = None,
        columns: Sequence[str] = (),
        tier_cut_points: Sequence[float] = DEFAULT_TIER_CUTS,
    ) -> None:
        super().__init__(segments, columns, tier_cut_points)
        self.url = url
        self.table = table
        self.schema = schema
        self.if_exists = if_exists
        self.chunk_rows = chunk_rows

    def write(self, frame: pd.DataFrame) -> str:
        """Write ``frame`` to the table in one transaction."""
        import sqlalchemy as sa

        step = checked_chunk_rows(self.chunk_rows, self.name)
        if self.if_exists not in IF_EXISTS:
            raise ConfigError(
                f"export.{self.name}.params.if_exists: must be one of "
                f"{list(IF_EXISTS)}; got {self.if_exists!r}."
            )
        engine = _engine(self.url)
        try:
            with engine.begin() as connection:
                table = self._prepare_table(connection, frame)
                records = _records(frame)
                for start in range(0, len(records), step):
                    _insert_rows(connection, table, records[start : start + step])
        except sa.exc.SQLAlchemyError as err:
            raise ConfigError(
                f"export.{self.name}: writing {len(frame)} rows to table "
                f"{self.table!r} at {_safe_url(self.url)} failed and was rolled back: "
                f"{err.__class__.__name__}: {err}"
            ) from err
        finally:
            engine.dispose()
        return f"{_safe_url(self.url)}#{self.table}"

    def _prepare_table(self, connection: Any, frame: pd.DataFrame) -> Any:
        import sqlalchemy as sa

        exists = sa.inspect(connection).has_table(self.table, schema=self.schema)
        metadata = sa.MetaData(schema=self.schema)
        if exists and self.if_exists == "fail":
            raise ConfigError(
                f"export.{self.name}: table {self.table!r} already exists at "
                f"{_safe_url(self.url)}; set if_exists to replace or append."
            )
        if exists and self.if_exists == "append":
            table = sa.Table(self.table, metadata, autoload_with=connection)
            missing = [c for c in frame.columns if c not in table.columns]
            if missing:
                raise ConfigError(
                    f"export.{self.name}: table {self.table!r} has no column(s) "
                    f"{missing} to append to (it has {list(table.columns.keys())}); "
                    "use if_exists: replace or another table."
                )
            return table
        if exists:
            sa.Table(
                self.table, sa.MetaData(schema=self.schema), autoload_with=connection
            ).drop(connection)
        table = sa.Table(
            self.table,
            metadata,
            *(sa.Column(str(c), _column_type(frame[c])) for c in frame.columns),
        )
        table.create(connection)
        return table


def _safe_url(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)


@hookimpl
def clvframe_register_exporters() -> list[type[Exporter]]:
    """Register the sql exporter."""
    return [SqlExporter]
