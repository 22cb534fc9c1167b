"""The plugins a run uses: the enabled adapters and the responder.

``bot`` names no platform: the installed plugins (:mod:`bot.plugins`) say which
adapters exist, their validated tables in :class:`~bot.settings.Settings` say which
are enabled, and each plugin builds its own adapter. A plugin imports its platform
library only in its ``build``, so a run loads only the platform libraries of the
adapters it enables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from adapters.base import Adapter, AdapterContext, AdapterPlugin
from bot.plugins import adapter_plugins, responder_plugins
from bot.settings import Settings
from core import ConfigError, Responder


def check_secrets(settings: Settings) -> None:
    """Read the secrets of every enabled adapter and of the responder.

    The plugins read them again when they build; this only lets ``sessionbot run``
    fail before it opens the database.

    Raises:
        ConfigError: one line naming the option and the environment variable.
    """
    problems = missing_secrets(settings)
    if problems:
        raise ConfigError(problems[0])


def missing_secrets(settings: Settings) -> list[str]:
    """Say, one line each, which secret of an enabled adapter or the responder is missing."""
    plugins = adapter_plugins().plugins
    checks: list[tuple[Callable[[Any], None], Any]] = [
        (plugins[name].check_secrets, settings.adapter_settings(name))
        for name in settings.enabled_adapters()
    ]
    responder = responder_plugins().plugins[settings.responder.kind]
    checks.append((responder.check_secrets, settings.responder))
    problems = []
    for check, section in checks:
        try:
            check(section)
        except ConfigError as error:
            problems.append(str(error))
    return problems


def build_adapters(
    settings: Settings,
    context: AdapterContext,
    plugins: Mapping[str, AdapterPlugin[Any]] | None = None,
) -> list[Adapter]:
    """Build every adapter the settings enable, in name order.

    Args:
        settings: the configuration; each plugin gets its own table.
        context: handler, command menu and bot name handed to each plugin.
        plugins: adapter name to plugin; the installed ones by default (tests
            pass their own).
    """
    plugins = adapter_plugins().plugins if plugins is None else plugins
    return [
        plugins[name].build(settings.adapter_settings(name), context)
        for name in settings.enabled_adapters()
    ]


def build_responder(settings: Settings) -> Responder:
    """Return the responder ``[responder] kind`` names, built from ``[responder]``."""
    return responder_plugins().plugins[settings.responder.kind].build(settings.responder)


async def close_responder(responder: Responder) -> None:
    """Close what the responder holds open (an HTTP client), if it has an ``aclose``."""
    aclose = getattr(responder, "aclose", None)
    if callable(aclose):
        await aclose()
