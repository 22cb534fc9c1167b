"""A Telegram reply shown while it is written: one message, edited as the answer grows.

Telegram allows about one message a second in a chat and twenty a minute in a
group, edits included, so a live reply is edited at most every
:data:`PRIVATE_INTERVAL` seconds in a private chat and :data:`GROUP_INTERVAL` in a
group; the final text is always shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from adapters.base import Undeliverable
from adapters.streaming import LiveMessage
from adapters.telegram_sender import Target, TelegramSender

PRIVATE_INTERVAL = 1.0
"""Seconds between two edits of a live reply in a private chat."""

GROUP_INTERVAL = 3.0
"""Seconds between two edits of a live reply in a group (twenty messages a minute)."""


class TelegramLive(LiveMessage[int]):
    """A live reply in one chat (and topic), quoting the user's message like a reply.

    Args:
        sender: the connected sender.
        target: where the reply goes.
        split: the adapter's splitting at Telegram's limit.
        clock: seconds, monotonic; for tests.
    """

    def __init__(
        self,
        sender: TelegramSender,
        target: Target,
        split: Callable[[str], list[str]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        interval = PRIVATE_INTERVAL if target.chat_id > 0 else GROUP_INTERVAL
        super().__init__(split, interval=interval, clock=clock)
        self._sender = sender
        self._target = target

    async def typing(self) -> None:
        """Show "typing…" in the chat until the live message is sent."""
        await self._sender.typing(self._target)

    async def post(self, text: str) -> int | None:
        """Send the live message."""
        return await self._sender.send_live(self._target, text)

    async def edit(self, handle: int, text: str, *, final: bool) -> None:
        """Edit the live message.

        Raises:
            Undeliverable: the bot was blocked or removed from the chat.
        """
        if not await self._sender.edit_text(self._target, handle, text, final=final):
            raise Undeliverable(f"chat {self._target.chat_id} cannot be reached")
