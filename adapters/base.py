"""The adapter contract: what ``bot`` drives, what a platform plugin provides, a base class.

An adapter turns one platform's events into :class:`core.Inbound` messages, hands each
to the handler it was given (the router's ``handle``) and posts the replies back
within the platform's limits. ``bot`` knows an adapter only as an :class:`Adapter`,
built by the :class:`AdapterPlugin` an entry point of the ``sessionbot.adapters``
group names::

    [project.entry-points."sessionbot.adapters"]
    matrix = "sessionbot_matrix:plugin"

:class:`BaseAdapter` holds what every platform shares: the lifecycle task, delivery
with the failure fallback, splitting, and acknowledgement of events that must be
answered quickly (Slack and Discord want one within 3 seconds; a responder may take
longer). A platform writes its receive loop and how to post one message or file;
one that can show an answer while it is written also opens a live reply
(:meth:`BaseAdapter.open_stream`, :mod:`adapters.streaming`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from adapters.splitting import split_text
from adapters.streaming import LiveReply
from core import (
    Completer,
    ConfigError,
    Deliveries,
    FirstDelivery,
    Inbound,
    InboundHandler,
    LocalRoles,
    MenuCommand,
    Reply,
    ReplyFile,
    Roles,
    SessionManager,
    streaming_to,
)

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "sessionbot.adapters"
"""The entry-point group adapter plugins are found in."""

FAILURE_REPLY = "Sorry, that message could not be handled."
"""What a user is told when the handler failed on their message."""

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


class Undeliverable(Exception):
    """The destination can no longer be reached (the bot was blocked or removed).

    Raised by :meth:`BaseAdapter.post_text` or :meth:`BaseAdapter.post_file`; the
    rest of the replies to that destination are dropped, with a warning.
    """


Destination = TypeVar("Destination")
"""Where a platform posts replies: a chat id, a chat and topic, an interaction…"""

Acknowledge = Callable[[], Awaitable[None]]
"""Tells the platform an event was received (Slack's ``ack()``, Discord's ``defer()``)."""


class BaseAdapter(ABC, Generic[Destination]):
    """What every adapter shares; a platform subclasses it.

    A subclass sets :attr:`name` (its platform, as in :attr:`core.Inbound.platform`)
    and :attr:`max_length`, and writes :meth:`receive`, :meth:`destination`,
    :meth:`post_text` and :meth:`post_file`. Its receive loop builds an
    :class:`core.Inbound` for each event and calls :meth:`handle`.

    Args:
        handler: where each message goes (the router's ``handle``).

    Attributes:
        name: the platform's name.
        max_length: the longest message the platform accepts; longer replies are
            split on line breaks, never cut. ``None``: no limit.
        failure_reply: what the user is told when the handler fails.
        ack_after: seconds :meth:`handle` lets the handler run before it
            acknowledges an event that asks for it (0: at once).
    """

    name: str
    max_length: int | None = None
    failure_reply: str = FAILURE_REPLY
    ack_after: float = 2.0

    def __init__(self, handler: InboundHandler) -> None:
        self._handler = handler
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._interruptible = False

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Start the receive loop as a task; returns at once.

        Safe to call again after :meth:`stop`.
        """
        if self._task is not None and not self._task.done():
            return
        self._stopping = asyncio.Event()
        self._interruptible = False
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-adapter")

    async def _run(self) -> None:
        # A stop that came before the task's first step found nothing to cancel.
        if not self._stopping.is_set():
            await self.receive()

    async def stop(self) -> None:
        """Ask the receive loop to end and wait until it has.

        A loop inside :meth:`interruptible` (a read that may never return, a
        connection being retried) is cancelled; otherwise the message in progress
        is finished first.
        """
        task = self._task
        if task is None or task.done():
            return
        if not self._stopping.is_set():
            self._stopping.set()
            if self._interruptible:
                task.cancel()
        await asyncio.wait([task])

    async def wait(self) -> None:
        """Return once the receive loop has ended.

        Raises:
            RuntimeError: the adapter was never started.
            Exception: what ended the loop; the supervisor restarts the adapter.
        """
        if self._task is None:
            raise RuntimeError(f"the {self.name} adapter was not started")
        # asyncio.wait, not await: cancelling the waiter must not cancel the adapter.
        await asyncio.wait([self._task])
        if not self._task.cancelled():
            self._task.result()

    @property
    def stopping(self) -> asyncio.Event:
        """Set once :meth:`stop` was called; the receive loop ends when it sees it."""
        return self._stopping

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Mark a wait that :meth:`stop` may cancel rather than wait for."""
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False

    @abstractmethod
    async def receive(self) -> None:
        """Receive events until input ends or :attr:`stopping` is set.

        Raises:
            Exception: a failure the adapter cannot recover from by itself.
        """

    # -- delivery -----------------------------------------------------------------

    async def handle(
        self, inbound: Inbound, destination: Destination, *, acknowledge: Acknowledge | None = None
    ) -> None:
        """Hand ``inbound`` to the handler and post its replies to ``destination``.

        A handler that raises is logged (without the message's text) and the user
        gets :attr:`failure_reply`; the adapter goes on.

        Args:
            inbound: the message.
            destination: where the replies go.
            acknowledge: awaited exactly once, before any reply is posted: as soon
                as the handler has run :attr:`ack_after` seconds, or when it
                answered sooner. Platforms that must acknowledge an event quickly
                pass it; their replies then follow the acknowledgement.
        """
        live = self.open_stream(destination)
        try:
            with streaming_to(live):
                if acknowledge is None:
                    replies = await self._handler(inbound)
                else:
                    replies = await self._answer_acknowledged(inbound, acknowledge)
        except Exception:
            # The router answers bad input itself; reaching here is a bug, and one
            # bad message must not end the conversation.
            logger.exception("%s: handling message %s failed", self.name, inbound.message_id)
            # Streamed: it replaces whatever part of an answer was shown already.
            replies = [Reply(self.failure_reply, streamed=live is not None)]
        try:
            await self.post_replies(destination, replies, live=live)
        finally:
            if live is not None:
                await live.close()

    def open_stream(self, destination: Destination) -> LiveReply | None:
        """Return where an answer to a message from ``destination`` is shown as it is written.

        ``None`` (the default): the platform shows only the final text. A platform
        that can edit a message returns an :class:`adapters.streaming.LiveMessage`.
        """
        return None

    async def _answer_acknowledged(self, inbound: Inbound, acknowledge: Acknowledge) -> list[Reply]:
        answering = asyncio.ensure_future(self._handler(inbound))
        try:
            await asyncio.wait([answering], timeout=self.ack_after)
            try:
                await acknowledge()
            except Exception:
                # The answer may still get through; a platform that needed the
                # acknowledgement will say so when the replies are posted.
                logger.exception(
                    "%s: acknowledging message %s failed", self.name, inbound.message_id
                )
            return await answering
        finally:
            answering.cancel()  # only ever cancels when this call itself was cancelled

    async def send(self, channel_id: str, text: str, thread_id: str | None = None) -> None:
        """Post ``text`` unprompted (a reset notice), split like any reply.

        Nothing is posted when :meth:`destination` says the channel is not this
        adapter's.
        """
        destination = self.destination(channel_id, thread_id)
        if destination is not None:
            await self.post_replies(destination, [Reply(text)])

    async def post_replies(
        self, destination: Destination, replies: Sequence[Reply], *, live: LiveReply | None = None
    ) -> None:
        """Post each reply: its text in as many messages as needed, then its file.

        A reply that was streamed to ``live`` finishes the message shown there.
        """
        try:
            for reply in replies:
                await self._post_reply(destination, reply, live if reply.streamed else None)
        except Undeliverable as error:
            logger.warning("%s: %s; the rest of the replies are dropped", self.name, error)

    async def _post_reply(
        self, destination: Destination, reply: Reply, live: LiveReply | None = None
    ) -> None:
        first = True
        chunks = self.split(reply.text)
        if live is not None and chunks and await live.finish(chunks[0]):
            chunks, first = chunks[1:], False
        for chunk in chunks:
            await self.post_text(destination, chunk, first=first)
            first = False
        if reply.file is not None:
            await self.post_file(destination, reply.file, first=first)

    def split(self, text: str) -> list[str]:
        """Return ``text`` as messages of at most :attr:`max_length`; none if blank."""
        if not text.strip():
            return []
        if self.max_length is None:
            return [text]
        return split_text(text, self.max_length)

    @abstractmethod
    def destination(self, channel_id: str, thread_id: str | None) -> Destination | None:
        """Return where :meth:`send` posts for a channel, or ``None`` if it is not ours."""

    @abstractmethod
    async def post_text(self, destination: Destination, text: str, *, first: bool) -> None:
        """Post one message that fits :attr:`max_length`.

        Args:
            destination: where it goes.
            text: the message.
            first: it opens a reply (Telegram quotes the user's message only then).

        Raises:
            Undeliverable: the destination cannot be reached any more.
        """

    @abstractmethod
    async def post_file(self, destination: Destination, file: ReplyFile, *, first: bool) -> None:
        """Post a file attached to a reply (an export).

        Raises:
            Undeliverable: the destination cannot be reached any more.
        """


# -- plugins ----------------------------------------------------------------------


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
