"""Hook markers for the ``clvframe`` plugin namespace."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "clvframe"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
