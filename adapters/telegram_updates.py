"""Reading Telegram updates: in which order, what the handler sees of them, what is dropped.

Nothing platform-specific leaves this module: a :class:`telegram.Message` becomes a
:class:`core.Inbound`, or nothing.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Awaitable
from typing import Any

from telegram import Chat, Message, Update
from telegram.ext import BaseUpdateProcessor

from adapters.telegram import PLATFORM
from core import Inbound
from core.locks import KeyedLocks

_COMMAND_FOR_A_BOT = re.compile(
    r"/(?P<command>\w+)@(?P<bot>\w+)(?P<rest>\s.*)?", re.DOTALL | re.ASCII
)


def message_text(message: Message) -> str | None:
    """Return the text of ``message``: its text, or the caption of its media."""
    return message.text if message.text is not None else message.caption


def addressed_text(text: str, username: str) -> str | None:
    """Return ``text`` as the router should see it, or ``None`` if it is for another bot.

    In groups, ``/cmd@name`` says which bot a command is for. Only the adapter
    knows its own username for sure, so it drops commands for other bots and
    strips its own name, leaving ``/cmd args``. Other text is returned unchanged.

    Args:
        text: the message text.
        username: the bot's username, without ``@``; compared case-insensitively,
            as Telegram does.
    """
    match = _COMMAND_FOR_A_BOT.fullmatch(text)
    if match is None:
        return text
    if match["bot"].casefold() != username.casefold():
        return None
    return f"/{match['command']}{match['rest'] or ''}"


def has_content(message: Message) -> bool:
    """Return whether ``message`` carries something a user sent (a photo, a sticker…).

    Service messages (members joining, pins, topics created) and payments carry
    nothing to answer; they are not content.
    """
    if message.successful_payment is not None:
        return False  # checked first: PTB deprecates counting it as an attachment
    return message.effective_attachment is not None


def inbound_from_message(message: Message, text: str) -> Inbound | None:
    """Return the inbound message for ``message`` with ``text``, or ``None`` if no user wrote it.

    The chat is the channel and a forum topic is the thread. Messages in a
    forum's General topic, and replies in groups without topics, have no thread.
    Channel posts have no author and give ``None``.
    """
    author = message.from_user
    if author is None:
        return None
    thread = message.message_thread_id if message.is_topic_message else None
    return Inbound(
        platform=PLATFORM,
        channel_id=str(message.chat.id),
        user_id=str(author.id),
        text=text,
        thread_id=None if thread is None else str(thread),
        is_direct=message.chat.type == Chat.PRIVATE,
        message_id=str(message.message_id),
        timestamp=message.date,
        display_name=author.full_name or author.username,
    )


class OncePerChat:
    """Remembers which chats were already told something, for the most recent chats.

    Memory is bounded: past ``capacity`` chats, the least recently seen is
    forgotten (and would be told again).

    Args:
        capacity: how many chats to remember.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._chats: OrderedDict[int, None] = OrderedDict()

    def first_time(self, chat_id: int) -> bool:
        """Return ``True`` the first time ``chat_id`` is seen, ``False`` afterwards."""
        if chat_id in self._chats:
            self._chats.move_to_end(chat_id)
            return False
        self._chats[chat_id] = None
        if len(self._chats) > self._capacity:
            self._chats.popitem(last=False)
        return True


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Handles updates of different chats concurrently, and of one chat in order.

    A chat has a lock only while it has updates in flight, so memory is bounded
    by ``max_concurrent_updates``, not by the number of chats ever seen.

    Args:
        max_concurrent_updates: updates handled at once.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._chats = KeyedLocks()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run ``coroutine`` once the update's chat has no earlier update running."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        async with self._chats.lock_for(chat.id):
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""
