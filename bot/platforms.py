"""Which adapters exist, and how each is built from its config section.

Each factory imports its adapter module inside the function, so a platform library
(python-telegram-bot, discord.py, slack-bolt) is imported only when its adapter is
enabled: ``sessionbot run`` with the console alone starts fast and never loads them.
A new adapter is one factory here, one ``[adapters.<name>]`` section in
:mod:`bot.config`, and one module in ``adapters/``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from bot.config import Settings
from core.types import InboundHandler


class Adapter(Protocol):
    """A platform connection, as ``bot`` drives it.

    An adapter holds the handler it was given and calls it for every inbound
    message; it never sees the router itself.
    """

    name: str

    async def start(self) -> None:
        """Connect and begin receiving; returns once running.

        Called again after :meth:`stop` when the adapter is restarted.
        """
        ...

    async def stop(self) -> None:
        """Stop receiving and disconnect; a message in progress is finished."""
        ...

    async def wait(self) -> None:
        """Return when the adapter has finished (stopped, or its input ended).

        Raises:
            Exception: the adapter failed; the supervisor restarts it.
        """
        ...


AdapterFactory = Callable[[Settings, InboundHandler], Adapter]


def _console(settings: Settings, handler: InboundHandler) -> Adapter:
    from adapters.console import ConsoleAdapter

    options = settings.adapters.console
    return ConsoleAdapter(
        handler, user=options.user, channel=options.channel, export_dir=options.export_dir
    )


ADAPTERS: Mapping[str, AdapterFactory] = {"console": _console}
"""Adapter name (its ``[adapters.<name>]`` section) to the factory that builds it."""


def build_adapters(
    settings: Settings,
    handler: InboundHandler,
    factories: Mapping[str, AdapterFactory] = ADAPTERS,
) -> list[Adapter]:
    """Build every enabled adapter, each handed ``handler`` for its messages.

    Args:
        settings: the configuration; ``[adapters.<name>] enabled`` selects.
        handler: the router's ``handle``.
        factories: adapter name to factory; tests pass fakes.
    """
    return [factories[name](settings, handler) for name in settings.enabled_adapters()]
