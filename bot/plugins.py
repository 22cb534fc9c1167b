"""The installed adapter and responder plugins, found through entry points.

Adapters come from the ``sessionbot.adapters`` group and responders from
``sessionbot.responders`` (commands, from ``sessionbot.commands``, are loaded by
:mod:`commands.plugins`). Each entry point names a plugin object; its name must be
the entry point's. A plugin that fails to load is logged and kept out; a config
that uses it is then told why.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from adapters.base import ENTRY_POINT_GROUP as ADAPTERS_GROUP
from adapters.base import AdapterPlugin
from bot.responders import ENTRY_POINT_GROUP as RESPONDERS_GROUP
from bot.responders import ResponderPlugin

logger = logging.getLogger(__name__)

PluginT = TypeVar("PluginT")


@dataclass(frozen=True, slots=True)
class Installed(Generic[PluginT]):
    """The plugins of one entry-point group.

    Attributes:
        plugins: entry-point name to plugin, sorted by name.
        broken: entry-point name to why it could not be loaded.
    """

    plugins: Mapping[str, PluginT]
    broken: Mapping[str, str]

    def describe(self, name: str, what: str) -> str:
        """Say why ``name`` is not among the plugins, and which ones are."""
        if name in self.broken:
            return f"the {what} plugin {name!r} failed to load: {self.broken[name]}"
        known = ", ".join(repr(known) for known in self.plugins) or "none"
        return f"no {what} plugin {name!r} is installed (installed: {known})"


@functools.cache
def adapter_plugins() -> Installed[AdapterPlugin[Any]]:
    """Return the installed adapter plugins (looked up once per process)."""
    return _discover(ADAPTERS_GROUP, AdapterPlugin, lambda plugin: plugin.name)


@functools.cache
def responder_plugins() -> Installed[ResponderPlugin[Any]]:
    """Return the installed responder plugins (looked up once per process)."""
    return _discover(RESPONDERS_GROUP, ResponderPlugin, lambda plugin: plugin.kind)


def forget_plugins() -> None:
    """Look the plugins up again on next use (after ``sys.path`` changed: tests)."""
    adapter_plugins.cache_clear()
    responder_plugins.cache_clear()


def _discover(
    group: str, kind: type[PluginT], name_of: Callable[[PluginT], str]
) -> Installed[PluginT]:
    plugins: dict[str, PluginT] = {}
    broken: dict[str, str] = {}
    for entry_point in sorted(entry_points(group=group), key=lambda point: point.name):
        try:
            plugin = entry_point.load()
            if not isinstance(plugin, kind):
                raise TypeError(f"{entry_point.value} is not a {kind.__name__}")
            if name_of(plugin) != entry_point.name:
                raise ValueError(f"{entry_point.value} is named {name_of(plugin)!r}")
        except Exception as error:
            # One broken plugin must not keep the others from working.
            logger.warning("%s plugin %r failed to load: %s", group, entry_point.name, error)
            broken[entry_point.name] = f"{type(error).__name__}: {error}"
            continue
        plugins[entry_point.name] = plugin
    return Installed(plugins, broken)
