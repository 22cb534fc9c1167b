"""Answers shown as they are written: one message, edited as the answer grows.

A platform that can edit a message it sent (Telegram, Discord, Slack) subclasses
:class:`LiveMessage` with how to post and edit one message, and returns one from
:meth:`adapters.base.BaseAdapter.open_stream`. Edits are throttled to the
platform's limits: at most one per ``interval`` seconds, the text in between shown
at the next edit, the final text always. The live view is a courtesy: an edit
that fails ends the live view, never the answer, which is then posted whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from core import ReplyStream

logger = logging.getLogger(__name__)

TYPING_DELAY = 0.5
"""Seconds an answer may take before a typing indicator is shown: a quick one gets none."""

TYPING_REPEAT = 4.5
"""Seconds between two typing indicators while nothing is shown (Telegram's lasts 5)."""


class LiveReply(ReplyStream, Protocol):
    """A reply shown while it is written (:meth:`adapters.base.BaseAdapter.open_stream`).

    :class:`LiveMessage` is one for platforms that edit a message.
    """

    async def finish(self, first_part: str) -> bool:
        """Show ``first_part`` of the final reply where the answer was shown.

        Returns:
            ``False`` if nothing was shown: the reply is then posted as any other.
        """
        ...

    async def close(self) -> None:
        """Stop what is pending (a typing indicator); called once the message is handled."""
        ...


Handle = TypeVar("Handle")
"""How a platform names a message it sent, to edit it (an id, a channel and a ts…)."""


class LiveMessage(ABC, Generic[Handle]):
    """A reply being written, shown in one message that is edited as it grows.

    Args:
        split: the adapter's splitting to its size limit; the live message shows
            the first part, the rest is posted when the answer is complete.
        interval: the least number of seconds between two edits.
        clock: seconds, monotonic; for tests.
    """

    def __init__(
        self,
        split: Callable[[str], list[str]],
        *,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._split = split
        self._interval = interval
        self._clock = clock
        self._handle: Handle | None = None
        self._shown = ""
        self._edited_at = 0.0
        self._broken = False
        self._typing: asyncio.Task[None] | None = None

    @property
    def shown(self) -> str:
        """The text the live message shows now."""
        return self._shown

    async def update(self, text: str) -> None:
        """Show ``text``, the answer so far, if the throttle allows an edit now.

        An empty ``text`` means the answer is being written: :meth:`typing` is shown.
        """
        if self._broken:
            return
        if not text:
            if self._handle is None and self._typing is None:
                self._typing = asyncio.create_task(self._keep_typing())
            return
        self._stop_typing()
        parts = self._split(text)
        if not parts or parts[0] == self._shown:
            return
        now = self._clock()
        if self._handle is not None and now - self._edited_at < self._interval:
            return
        try:
            if self._handle is None:
                self._handle = await self.post(parts[0])
                self._broken = self._handle is None
            else:
                await self.edit(self._handle, parts[0], final=False)
        except Exception as error:
            # Only the live view is lost; the answer is still posted when complete.
            logger.warning("live reply stopped: %s", error.__class__.__name__)
            self._broken = True
            return
        self._shown, self._edited_at = parts[0], now

    async def _keep_typing(self) -> None:
        await asyncio.sleep(TYPING_DELAY)
        while True:
            try:
                await self.typing()
            except Exception as error:
                logger.debug("typing indicator failed: %s", error.__class__.__name__)
                return
            await asyncio.sleep(TYPING_REPEAT)

    def _stop_typing(self) -> None:
        if self._typing is not None:
            self._typing.cancel()

    async def close(self) -> None:
        """Stop the typing indicator; the message has been handled."""
        if self._typing is not None:
            self._typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._typing

    async def typing(self) -> None:
        """Show that an answer is being written (a typing indicator); nothing by default."""

    async def finish(self, first_part: str) -> bool:
        """Make the live message show ``first_part`` of the final reply.

        Returns:
            ``False`` when nothing is shown (no text came, or the first post failed):
            the reply is then posted as any other.

        Raises:
            Undeliverable: the destination cannot be reached any more.
        """
        self._stop_typing()
        if self._handle is None:
            return False
        if first_part != self._shown:
            await self.edit(self._handle, first_part, final=True)
            self._shown = first_part
        return True

    @abstractmethod
    async def post(self, text: str) -> Handle | None:
        """Post the live message with its first text; ``None`` if it could not be."""

    @abstractmethod
    async def edit(self, handle: Handle, text: str, *, final: bool) -> None:
        """Replace the live message's text.

        Args:
            handle: the message.
            text: its new text.
            final: the answer is complete: retry as a reply would be (a live edit is
                tried once).

        Raises:
            Undeliverable: the destination cannot be reached any more.
        """
