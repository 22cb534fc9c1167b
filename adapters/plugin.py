"""The adapter contract: what ``bot`` drives and what a platform plugin provides.

``bot`` knows an adapter only as an :class:`Adapter`, built by the
:class:`AdapterPlugin` an entry point of the ``sessionbot.adapters`` group names::

    [project.entry-points."sessionbot.adapters"]
    matrix = "sessionbot_matrix:plugin"

The plugin brings its settings model (:class:`AdapterSettings`) and gets an
:class:`AdapterContext` to build its adapter with. :mod:`adapters.base` holds the base
class most adapters derive from, and re-exports these names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from core import (
    Completer,
    ConfigError,
    Deliveries,
    FirstDelivery,
    InboundHandler,
    LocalRoles,
    MenuCommand,
    Roles,
    SessionManager,
)

ENTRY_POINT_GROUP = "sessionbot.adapters"
"""The entry-point group adapter plugins are found in."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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


class AdapterSettings(BaseModel):
    """The base of every adapter's settings model, its ``[adapters.<name>]`` table.

    Unknown keys are errors, so a typo fails loudly.

    Attributes:
        enabled: whether ``sessionbot run`` starts the adapter.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False


@dataclass(frozen=True, slots=True)
class AdapterStatus:
    """How one adapter of the running bot is doing (health checks, metrics).

    Attributes:
        name: the adapter's name.
        running: started and not failed or stopped since.
        restarts: how many times it was restarted after a failure.
    """

    name: str
    running: bool
    restarts: int = 0


class BotStatus(Protocol):
    """What a running bot tells about itself: for health checks and metrics."""

    def adapters(self) -> list[AdapterStatus]:
        """Return the status of every adapter, in name order."""
        ...

    async def metrics(self) -> tuple[bytes, str] | None:
        """Return the bot's metrics as an exposition and its content type.

        ``None`` when metrics are off.
        """
        ...


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """What ``bot`` hands a plugin to build its adapter.

    Attributes:
        handler: the router's ``handle``, the adapter's only way into the bot.
        commands: ``(name, one-line summary)`` of each top-level command, for
            platforms with a command menu (Telegram's ``setMyCommands``, Discord's
            slash commands).
        bot_name: ``[bot] name``.
        roles: where the adapter claims what only one worker may do at a time
            (Telegram's long polling), when several workers share the database.
        deliveries: the store's record of platform events claimed and handled, for
            platforms that need more than :attr:`first_delivery` (Telegram's webhook
            answers a redelivery still being handled elsewhere with 503).
        first_delivery: records a platform event's id in the store and says
            whether it is new, for platforms that redeliver events (Slack): a
            redelivery is dropped, even after a restart. ``None``: the adapter
            remembers ids in memory only.
        menu: every command with its subcommands and typed options, for
            platforms with native commands (Discord's slash commands); an
            adapter writes a picked command back as text for :attr:`handler`.
        suggest: the caller's own checkpoint or session ids matching what they
            typed, for platforms that suggest while the user types; ``None``
            when nothing suggests.
        manager: the session core, for an adapter that manages sessions besides
            passing messages (the HTTP API's management routes); chat platforms
            leave it alone.
        status: the running bot's adapters and counters (health checks, metrics).
    """

    handler: InboundHandler
    commands: tuple[tuple[str, str], ...] = ()
    bot_name: str = "sessionbot"
    first_delivery: FirstDelivery | None = None
    deliveries: Deliveries | None = None
    roles: Roles = field(default_factory=LocalRoles)
    menu: tuple[MenuCommand, ...] = ()
    suggest: Completer | None = None
    manager: SessionManager | None = None
    status: BotStatus | None = None


SettingsT = TypeVar("SettingsT", bound=AdapterSettings)


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A top-level command as a platform's app description lists it.

    Attributes:
        name: the command's name, without the slash.
        summary: its one-line help.
        usage: its usage line, such as ``/new [title]``.
    """

    name: str
    summary: str
    usage: str


def no_secrets(settings: AdapterSettings) -> None:
    """Check nothing: for adapters that need no secret."""


@dataclass(frozen=True, slots=True)
class AdapterPlugin(Generic[SettingsT]):
    """An adapter as an entry point of the ``sessionbot.adapters`` group names it.

    The module holding the plugin is imported whenever the configuration is read,
    so it must not import its platform library: :attr:`build` does, when the
    adapter is enabled.

    Attributes:
        name: the platform, and the table ``[adapters.<name>]``.
        settings_model: validates that table.
        build: builds the adapter from its validated settings and the context.
        check_secrets: reads the secrets the settings name, so a missing one stops
            start-up before the database is opened.  Raises
            :class:`core.ConfigError` naming the option and the variable.
        operator_only: only the bot's operator writes through this adapter (a
            local terminal), so ``bot`` exempts its platform from the per-user
            rate limit: a script piped in is the operator's own, not a flood.
        manifest: for platforms where an app is created from a description
            (Slack's app manifest): returns it for the settings, the commands
            and ``[bot] name``; ``sessionbot <name> manifest`` prints it.
        table: the top-level config table that holds the settings instead of
            ``[adapters.<name>]`` (the HTTP API's ``[api]``); ``bot`` knows the
            tables it offers (:class:`bot.settings.Settings`).
    """

    name: str
    settings_model: type[SettingsT]
    build: Callable[[SettingsT, AdapterContext], Adapter]
    check_secrets: Callable[[SettingsT], None] = no_secrets
    operator_only: bool = False
    manifest: Callable[[SettingsT, Sequence[CommandSpec], str], str] | None = None
    table: str | None = None


def secret_from_env(name: str, *, key: str) -> str:
    """Read a secret from the environment variable an ``*_env`` option names.

    Args:
        name: the variable's name, as written in the config.
        key: the dotted option that named it, for the error message.

    Raises:
        ConfigError: the name is not a valid variable name, or the variable is
            unset or empty; the message names the variable, never its value.
    """
    if not _ENV_NAME.fullmatch(name):
        raise ConfigError(f"{key}: {name!r} is not an environment variable name")
    value = os.environ.get(name, "")
    if not value.strip():
        raise ConfigError(f"{key}: environment variable {name} is not set")
    return value
