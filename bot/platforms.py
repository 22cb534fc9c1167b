"""Which adapters exist, and how each is built from its config section.

Each factory imports its adapter module inside the function, so a platform library
(python-telegram-bot, discord.py, slack-bolt) is imported only when its adapter is
enabled: ``sessionbot run`` with the console alone starts fast and never loads them.
A new adapter is one factory here, one ``[adapters.<name>]`` section in
:mod:`bot.config`, and one module in ``adapters/``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """What a factory may use to build its adapter.

    Attributes:
        settings: the whole configuration; a factory reads its own section.
        handler: the router's ``handle``, the adapter's only way into the bot.
        commands: ``(name, one-line summary)`` of each top-level command, for
            platforms with a command menu (Telegram's ``setMyCommands``, Discord's
            slash commands).
    """

    settings: Settings
    handler: InboundHandler
    commands: tuple[tuple[str, str], ...] = ()


AdapterFactory = Callable[[AdapterContext], Adapter]


def _console(context: AdapterContext) -> Adapter:
    from adapters.console import ConsoleAdapter

    options = context.settings.adapters.console
    return ConsoleAdapter(
        context.handler,
        user=options.user,
        channel=options.channel,
        export_dir=options.export_dir,
    )


ADAPTERS: Mapping[str, AdapterFactory] = {"console": _console}
"""Adapter name (its ``[adapters.<name>]`` section) to the factory that builds it."""


def build_adapters(
    context: AdapterContext, factories: Mapping[str, AdapterFactory] = ADAPTERS
) -> list[Adapter]:
    """Build every adapter the settings enable.

    Args:
        context: settings, handler and command menu handed to each factory.
        factories: adapter name to factory; tests pass fakes.
    """
    return [factories[name](context) for name in context.settings.enabled_adapters()]
