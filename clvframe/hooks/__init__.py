"""Public hook markers; plugins import ``hookimpl`` from here."""

from clvframe.hooks.markers import hookimpl
from clvframe.hooks.markers import hookspec

__all__ = ["hookimpl", "hookspec"]
