"""Exporters: the customer lists of chosen segments, for marketing tools.

Built-ins write CSV and Parquet files and database tables (SQLAlchemy); plugins
add more through the ``clvframe_register_exporters`` hook.
"""

from clvframe.exporters.base import Exporter
from clvframe.exporters.base import ExportResult
from clvframe.exporters.base import write_atomically
from clvframe.exporters.runner import run_exports

__all__ = ["ExportResult", "Exporter", "run_exports", "write_atomically"]
