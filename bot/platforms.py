"""Which adapters exist, and how each is built from its config section.

Each factory imports its adapter module inside the function, so a platform library
(python-telegram-bot, discord.py, slack-bolt) is imported only when its adapter is
enabled: ``sessionbot run`` with the console alone starts fast and never loads them.
A new adapter is one factory here, one ``[adapters.<name>]`` section in
:mod:`bot.settings`, and one module in ``adapters/``; an adapter with secrets also
gets a reader in ``_SECRETS``, so :func:`check_secrets` can stop start-up early.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from bot.config import Settings, secret_from_env
from core.errors import ConfigError
from core.types import InboundHandler

# What Telegram accepts as a webhook's secret token.
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


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

    async def send(self, channel_id: str, text: str, thread_id: str | None = None) -> None:
        """Post ``text`` in a channel (or thread) unprompted, such as a reset notice."""
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


def _telegram(context: AdapterContext) -> Adapter:
    """Build the Telegram adapter; the command menu becomes its ``setMyCommands`` list.

    The adapter learns its own username from ``getMe`` when it connects; it drops
    ``/cmd@otherbot`` in groups and hands ``/cmd@itself`` to the router as ``/cmd``,
    so ``[bot] name`` need not match the Telegram username.
    """
    token, secret_token = telegram_secrets(context.settings)
    # python-telegram-bot 22 emits a PTBDeprecationWarning each time it reads a
    # duration (such as a RetryAfter's retry_after) as seconds, unless durations are
    # opted in to timedelta, the coming default. The adapter reads both forms.
    # The variable is read at each use, so setting it here, before the first
    # import, covers the whole run; an operator's own setting wins.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    from adapters.telegram import TelegramAdapter

    options = context.settings.adapters.telegram
    return TelegramAdapter(
        context.handler,
        token=token,
        mode=options.mode,
        base_url=options.base_url,
        commands=context.commands,
        listen=options.listen,
        port=options.port,
        url_path=options.url_path,
        webhook_url=options.webhook_url or None,
        secret_token=secret_token,
    )


def telegram_secrets(settings: Settings) -> tuple[str, str | None]:
    """Return the Telegram bot token and, in webhook mode, the webhook's secret token.

    Both come from the environment variables ``[adapters.telegram]`` names; error
    messages name the variable, never its value.

    Raises:
        ConfigError: a variable is unset or empty, or the secret token has
            characters Telegram refuses.
    """
    options = settings.adapters.telegram
    token = secret_from_env(options.token_env, key="adapters.telegram.token_env")
    if options.mode != "webhook":
        return token, None
    key = "adapters.telegram.secret_token_env"
    if not options.secret_token_env:  # the settings model refuses this too
        raise ConfigError(f"{key}: webhook mode needs a secret token")
    try:
        secret = secret_from_env(options.secret_token_env, key=key)
    except ConfigError as error:
        raise ConfigError(f"{error}; webhook mode needs a secret token") from None
    if not _WEBHOOK_SECRET.fullmatch(secret):
        raise ConfigError(
            f"{key}: the secret token in {options.secret_token_env} must be "
            "1-256 characters A-Z, a-z, 0-9, _ and -"
        )
    return token, secret


ADAPTERS: Mapping[str, AdapterFactory] = {"console": _console, "telegram": _telegram}
"""Adapter name (its ``[adapters.<name>]`` section) to the factory that builds it."""

_SECRETS: Mapping[str, Callable[[Settings], object]] = {"telegram": telegram_secrets}
"""Adapter name to the function that reads its secrets (raising ConfigError)."""


def check_secrets(settings: Settings) -> None:
    """Read the secrets of every enabled adapter, so a missing one stops start-up early.

    The factories read them again when they build the adapters; this only lets
    ``sessionbot run`` fail before it opens the database.

    Raises:
        ConfigError: one line naming the option and the environment variable.
    """
    for name in settings.enabled_adapters():
        read = _SECRETS.get(name)
        if read is not None:
            read(settings)


def build_adapters(
    context: AdapterContext, factories: Mapping[str, AdapterFactory] = ADAPTERS
) -> list[Adapter]:
    """Build every adapter the settings enable.

    Args:
        context: settings, handler and command menu handed to each factory.
        factories: adapter name to factory; tests pass fakes.
    """
    return [factories[name](context) for name in context.settings.enabled_adapters()]
