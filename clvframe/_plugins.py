"""Plugin manager factory, entry-point loading and the component registry.

Built-in plugins are plain modules registered through the same hooks as
third-party ones. Installed distributions announce theirs in the entry-point
group ``clvframe``. Components (loaders, estimators, spend models, segmenters)
are then collected into a :class:`ComponentRegistry` and chosen by name.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import logging
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import pluggy

from clvframe.errors import ClvframePluginWarning
from clvframe.errors import ConfigError
from clvframe.errors import PluginContractError
from clvframe.errors import PluginLoadError
from clvframe.hooks import specs
from clvframe.hooks.markers import PROJECT_NAME

ENTRY_POINT_GROUP = "clvframe"
BUILTIN_PLUGINS = (
    "clvframe.loaders.cdnow",
    "clvframe.loaders.csv",
    "clvframe.loaders.synthetic",
    "clvframe.estimators.historic",
    "clvframe.estimators.probabilistic",
    "clvframe.estimators.discrete",
    "clvframe.estimators.subscription",
    "clvframe.estimators.gbm",
    "clvframe.estimators.spend",
    "clvframe.segmenters.tiers",
    "clvframe.segmenters.rfm",
    "clvframe.segmenters.combined",
    "clvframe.exporters.csv",
    "clvframe.exporters.parquet",
    "clvframe.exporters.sql",
    "clvframe.exporters.runner",
)
BUILTIN_ORIGIN = "built-in"
KINDS = ("loader", "estimator", "spend_model", "segmenter", "exporter")
_HOOK_FOR_KIND = {
    "loader": "clvframe_register_loaders",
    "estimator": "clvframe_register_estimators",
    "spend_model": "clvframe_register_spend_models",
    "segmenter": "clvframe_register_segmenters",
    "exporter": "clvframe_register_exporters",
}

logger = logging.getLogger(__name__)


def build_plugin_manager(
    *,
    disabled: Iterable[str] = (),
    autoload: bool = True,
    strict: bool = True,
    extra_plugins: Iterable[object] = (),
) -> pluggy.PluginManager:
    """Create the plugin manager: built-ins first, then installed plugins.

    Hooks run in LIFO order, so installed plugins run before the built-ins.

    Args:
        disabled: Plugin names (entry-point names or built-in module names) to
            block.
        autoload: Load plugins from the ``clvframe`` entry-point group. The
            environment variable ``CLVFRAME_DISABLE_PLUGIN_AUTOLOAD=1`` turns
            this off as well.
        strict: Raise :class:`PluginLoadError` for a plugin that fails to
            import; with ``False`` it is skipped with a warning.
        extra_plugins: Plugin objects (modules or instances) to register last,
            for notebooks and tests.

    Raises:
        PluginLoadError: A plugin failed to import, or implements a hook that
            does not exist.
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(specs)
    for name in disabled:
        pm.set_blocked(name)
    if os.environ.get("CLVFRAME_TRACE_HOOKS"):
        pm.trace.root.setwriter(logger.debug)
        pm.enable_tracing()

    for module_name in BUILTIN_PLUGINS:
        if not pm.is_blocked(module_name):
            pm.register(importlib.import_module(module_name), name=module_name)

    if autoload and not os.environ.get("CLVFRAME_DISABLE_PLUGIN_AUTOLOAD"):
        _load_entry_points(pm, strict=strict)

    for plugin in extra_plugins:
        _register_checked(pm, plugin, name=None, origin="extra")

    _check_pending(pm)
    return pm


def _load_entry_points(pm: pluggy.PluginManager, *, strict: bool) -> None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
            continue
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "unknown"
        try:
            plugin = ep.load()
        except Exception as err:
            message = (
                f"plugin {ep.name!r} ({ep.value}, from {dist}) failed to import: "
                f"{type(err).__name__}: {err}. Upgrade or uninstall it, or list "
                f"it in plugins.disabled."
            )
            if strict:
                raise PluginLoadError(message) from err
            warnings.warn(message, ClvframePluginWarning, stacklevel=3)
            continue
        _register_checked(pm, plugin, name=ep.name, origin=dist)
        logger.debug("Registered plugin %s from %s", ep.name, dist)


def _register_checked(
    pm: pluggy.PluginManager, plugin: object, *, name: str | None, origin: str
) -> None:
    if inspect.isclass(plugin):
        raise PluginLoadError(
            f"plugin {name or plugin.__name__!r} ({origin}) is a class; register "
            f"an instance instead: {plugin.__name__}()."
        )
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as err:
        raise PluginLoadError(
            f"plugin {name or err.plugin!r} ({origin}) is invalid: {err}"
        ) from err


def _check_pending(pm: pluggy.PluginManager) -> None:
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as err:
        plugin_name = pm.get_name(err.plugin) or repr(err.plugin)
        known = ", ".join(sorted(h for h in dir(pm.hook) if h.startswith("clvframe_")))
        raise PluginLoadError(
            f"plugin {plugin_name!r} implements an unknown hook: {err}. "
            f"Known hooks: {known}."
        ) from err


def plugin_origin(pm: pluggy.PluginManager, plugin: object) -> str:
    """Say where a registered plugin came from: built-in or its distribution."""
    name = pm.get_name(plugin)
    if name in BUILTIN_PLUGINS:
        return BUILTIN_ORIGIN
    for dist_plugin, dist in pm.list_plugin_distinfo():
        if dist_plugin is plugin:
            return f"{dist.project_name} {dist.version}"
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name and ep.dist is not None:
            return f"{ep.dist.name} {ep.dist.version}"
    return f"registered object {name}"


@dataclass(frozen=True)
class Component:
    """One registered component: its kind, name, class and origin."""

    kind: str
    name: str
    cls: type[Any]
    plugin: str
    origin: str

    @property
    def summary(self) -> str:
        """First line of the component's docstring."""
        doc = inspect.getdoc(self.cls) or ""
        return doc.splitlines()[0] if doc else ""


@dataclass
class ComponentRegistry:
    """Every registered component, by kind and name."""

    components: dict[str, dict[str, Component]] = field(default_factory=dict)

    @classmethod
    def from_plugin_manager(cls, pm: pluggy.PluginManager) -> ComponentRegistry:
        """Collect components by calling every registration hook.

        Raises:
            PluginContractError: A hook returned something without a ``name``,
                or two plugins registered the same name for one kind.
        """
        registry = cls({kind: {} for kind in KINDS})
        for kind, hook_name in _HOOK_FOR_KIND.items():
            hook = getattr(pm.hook, hook_name)
            # Walk implementations oldest first so that a later plugin's
            # duplicate name is the one reported.
            for impl in reversed(hook.get_hookimpls()):
                offered = impl.function() or []
                origin = plugin_origin(pm, impl.plugin)
                for component_cls in offered:
                    registry._add(kind, component_cls, impl.plugin_name, origin)
        return registry

    def _add(self, kind: str, cls: type[Any], plugin: str, origin: str) -> None:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginContractError(
                f"plugin {plugin!r} ({origin}) registered a {kind} {cls!r} "
                "without a string 'name' class attribute."
            )
        existing = self.components[kind].get(name)
        if existing is not None and existing.cls is not cls:
            raise PluginContractError(
                f"{kind} name {name!r} is registered twice: by {existing.plugin!r} "
                f"({existing.origin}) and by {plugin!r} ({origin}). Disable one "
                "of them with plugins.disabled."
            )
        self.components[kind][name] = Component(kind, name, cls, plugin, origin)

    def names(self, kind: str) -> list[str]:
        """Registered names of one kind, sorted."""
        return sorted(self.components[kind])

    def get(self, kind: str, name: str, *, key: str | None = None) -> Component:
        """Look up a component by name.

        Raises:
            ConfigError: The name is not registered; the message lists the
                valid names.
        """
        try:
            return self.components[kind][name]
        except KeyError:
            where = key or f"{kind}.name"
            raise ConfigError(
                f"{where}: {name!r} is not a registered {kind}; choose one of "
                f"{self.names(kind)}."
            ) from None

    def __iter__(self):  # type: ignore[no-untyped-def]  # generator of Component
        for kind in KINDS:
            yield from (self.components[kind][n] for n in self.names(kind))


def build_registry(
    *, disabled: Iterable[str] = (), autoload: bool = True, strict: bool = True
) -> ComponentRegistry:
    """Build the plugin manager and collect its components in one step."""
    pm = build_plugin_manager(disabled=disabled, autoload=autoload, strict=strict)
    return ComponentRegistry.from_plugin_manager(pm)
