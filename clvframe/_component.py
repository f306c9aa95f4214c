"""Shared behaviour of configurable components: parameters from ``__init__``."""

from __future__ import annotations

import inspect
from typing import Any
from typing import ClassVar
from typing import Self

from clvframe.errors import ConfigError


class Component:
    """A component whose constructor arguments are its config ``params``.

    As in scikit-learn, ``__init__`` only stores its keyword arguments, so the
    parameters can be read back from its signature.
    """

    name: ClassVar[str] = ""
    params_key: ClassVar[str] = "params"

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            p.name
            for p in signature.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments of this component."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Set constructor arguments; unknown names are an error."""
        self._check_names(params)
        for key, value in params.items():
            setattr(self, key, value)
        return self

    @classmethod
    def _check_names(cls, params: dict[str, Any]) -> None:
        valid = cls._param_names()
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ConfigError(
                f"{cls.params_key}: {cls.name!r} has no parameter(s) "
                f"{unknown}; valid: {valid}."
            )

    @classmethod
    def from_config(cls, params: dict[str, Any]) -> Self:
        """Build from config params; unknown names list the valid ones."""
        cls._check_names(params)
        return cls(**params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
