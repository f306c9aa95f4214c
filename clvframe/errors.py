"""Exceptions and warnings raised by clvframe.

Every error a user can cause derives from :class:`ClvframeError`, so that a
caller can catch clvframe's failures without catching programming errors.
Messages say what was wrong, where, what was found and how to fix it.
"""

from __future__ import annotations


class ClvframeError(Exception):
    """Root of every error that clvframe raises on purpose."""


class ConfigError(ClvframeError, ValueError):
    """The run configuration is invalid (unknown names, bad values, bad units)."""


class PluginLoadError(ClvframeError):
    """An installed plugin failed to import or register."""


class PluginContractError(ClvframeError):
    """A plugin returned something that breaks the hook's contract."""


class DataValidationError(ClvframeError, ValueError):
    """Input data (a transaction log or a customer summary) is invalid."""


class NotFittedError(ClvframeError, AttributeError):
    """A model was used for prediction before it was fitted."""


class ConvergenceError(ClvframeError, RuntimeError):
    """An optimiser failed to find the parameters of a model."""


class IdentificationError(ClvframeError, ValueError):
    """The data cannot identify the parameters of the requested model."""


class ClvframeWarning(UserWarning):
    """Base class of the warnings clvframe emits."""


class DataWarning(ClvframeWarning):
    """Something in the input was left out or changed; the message counts it."""


class BoundaryWarning(ClvframeWarning):
    """A fitted parameter ended at (or ran towards) a bound of its domain."""


class ClvframePluginWarning(ClvframeWarning):
    """A plugin problem that did not stop the run (``plugins.strict: false``)."""
