"""The base class of adapters, and the adapter contract's names (:mod:`adapters.plugin`).

An adapter turns one platform's events into :class:`core.Inbound` messages, hands each
to the handler it was given (the router's ``handle``) and posts the replies back
within the platform's limits. ``bot`` knows an adapter only as an
:class:`~adapters.plugin.Adapter`, built by an :class:`~adapters.plugin.AdapterPlugin`.

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
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Generic, TypeVar

from adapters.plugin import (
    ENTRY_POINT_GROUP,
    Adapter,
    AdapterContext,
    AdapterPlugin,
    AdapterSettings,
    AdapterStatus,
    BotStatus,
    CommandSpec,
    SettingsT,
    no_secrets,
    secret_from_env,
)
from adapters.splitting import split_text
from adapters.streaming import LiveReply
from core import (
    Inbound,
    InboundHandler,
    Reply,
    ReplyFile,
    streaming_to,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "FAILURE_REPLY",
    "Acknowledge",
    "Adapter",
    "AdapterContext",
    "AdapterPlugin",
    "AdapterSettings",
    "AdapterStatus",
    "BaseAdapter",
    "BotStatus",
    "CommandSpec",
    "Destination",
    "SettingsT",
    "Undeliverable",
    "no_secrets",
    "secret_from_env",
]

logger = logging.getLogger(__name__)

FAILURE_REPLY = "Sorry, that message could not be handled."
"""What a user is told when the handler failed on their message."""


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
