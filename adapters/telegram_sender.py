"""Sending messages to Telegram: files, topics, quoting, and what to do on errors.

Replies are split to :data:`TEXT_LIMIT` by the adapter's base class before they
get here. Text goes out as plain text (no ``parse_mode``), so nothing a user or a model wrote
can break Markdown or HTML formatting. Each attempt that fails is handled by kind:

* flood control (``RetryAfter``): wait as long as Telegram asks, then retry;
* network errors and 5xx answers: retry with exponential backoff;
* a group that became a supergroup (``ChatMigrated``): retry in the new chat;
* the bot was blocked or removed (``Forbidden``): logged, the rest of the reply
  is dropped, since nothing more can reach that chat;
* anything else Telegram refuses (``BadRequest``): logged, that message skipped.

A message is given up only after ``send_attempts`` attempts, and never without an
error in the log.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePath

from telegram import Bot, ReplyParameters
from telegram.constants import ChatAction, MessageLimit
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from core import ReplyFile
from core.backoff import Backoff

logger = logging.getLogger(__name__)

TEXT_LIMIT = int(MessageLimit.MAX_TEXT_LENGTH)
"""The longest message Telegram accepts (4,096), counted in UTF-16 code units.

Counting code units rather than characters can only make chunks shorter, so a
chunk is accepted whichever way the server counts.
"""


@dataclass(frozen=True, slots=True)
class Target:
    """Where replies go.

    Attributes:
        chat_id: the chat.
        thread_id: the forum topic, if any; replies stay in it.
        reply_to: the message each reply quotes, if any (the user's, in groups).
    """

    chat_id: int
    thread_id: int | None = None
    reply_to: int | None = None


_Action = Callable[[int], Awaitable[object]]


def retry_after_seconds(error: RetryAfter) -> float:
    """Return how many seconds Telegram asked to wait."""
    # PTB 22 warns when ``retry_after`` is read as an int; it may be either type.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramSender:
    """Sends messages through a bot, retrying as the module docstring describes.

    Args:
        bot: the connected bot.
        backoff: delays between attempts.
        send_attempts: attempts to send one message before giving it up.
    """

    def __init__(self, bot: Bot, backoff: Backoff, send_attempts: int = 6) -> None:
        self._bot = bot
        self._backoff = backoff
        self._attempts = send_attempts

    async def send_message(self, target: Target, text: str, *, quote: bool) -> bool:
        """Send one message of at most :data:`TEXT_LIMIT`, as plain text.

        Args:
            target: the chat, and topic, it goes to.
            text: the message.
            quote: quote ``target.reply_to``, if any.

        Returns:
            ``False`` if the chat can no longer be reached (the bot was blocked or
            removed), ``True`` otherwise, even if the message had to be given up.
        """
        reply_to = target.reply_to if quote else None

        async def send(chat_id: int) -> object:
            return await self._bot.send_message(
                chat_id,
                text,
                message_thread_id=target.thread_id,
                reply_parameters=_reply_parameters(reply_to),
            )

        return await self._call(target.chat_id, send, "a message")

    async def typing(self, target: Target) -> None:
        """Show "typing…" in the chat (and topic), once; a failure only costs the indicator."""
        try:
            await self._bot.send_chat_action(
                target.chat_id, ChatAction.TYPING, message_thread_id=target.thread_id
            )
        except TelegramError as error:
            logger.debug("typing indicator in chat %s failed: %s", target.chat_id, error)

    async def send_live(self, target: Target, text: str) -> int | None:
        """Send the first text of a live reply, once; return its message id.

        Returns:
            ``None`` if it failed (logged): the reply is then sent whole when complete.
        """
        try:
            message = await self._bot.send_message(
                target.chat_id,
                text,
                message_thread_id=target.thread_id,
                reply_parameters=_reply_parameters(target.reply_to),
            )
        except TelegramError as error:
            logger.warning("live reply to chat %s not started: %s", target.chat_id, error)
            return None
        return message.message_id

    async def edit_text(self, target: Target, message_id: int, text: str, *, final: bool) -> bool:
        """Replace the text of a message the bot sent.

        A live edit (``final=False``) is tried once and skipped under flood control;
        the final one is retried as a message is.

        Returns:
            ``False`` if the chat can no longer be reached, ``True`` otherwise.

        Raises:
            TelegramError: a live edit failed otherwise.
        """

        async def edit(chat_id: int) -> object:
            return await self._bot.edit_message_text(text, chat_id=chat_id, message_id=message_id)

        if final:
            return await self._call(target.chat_id, edit, "an edit")
        try:
            await edit(target.chat_id)
        except RetryAfter:
            logger.debug("live edit in chat %s skipped: flood control", target.chat_id)
        return True

    async def send_file(self, target: Target, file: ReplyFile, *, quote: bool) -> bool:
        """Send ``file`` as a document under its own name (its last path component).

        Returns:
            ``False`` if the chat can no longer be reached, ``True`` otherwise.
        """
        name = PurePath(file.name).name or "file"
        reply_to = target.reply_to if quote else None

        async def send(chat_id: int) -> object:
            return await self._bot.send_document(
                chat_id,
                file.content,
                filename=name,
                message_thread_id=target.thread_id,
                reply_parameters=_reply_parameters(reply_to),
            )

        return await self._call(target.chat_id, send, f"the file {name!r}")

    async def _call(self, chat_id: int, action: _Action, what: str) -> bool:
        failures = 0
        while True:
            try:
                await action(chat_id)
                return True
            except ChatMigrated as error:
                logger.info("chat %s is now supergroup %s", chat_id, error.new_chat_id)
                chat_id, delay = error.new_chat_id, 0.0
            except RetryAfter as error:
                delay = retry_after_seconds(error)
                logger.warning("flood control in chat %s: waiting %.1fs", chat_id, delay)
            except Forbidden as error:
                logger.warning("cannot send to chat %s (blocked or removed): %s", chat_id, error)
                return False
            except BadRequest as error:  # before NetworkError, its base class
                logger.error("Telegram refused %s for chat %s: %s", what, chat_id, error)
                return True
            except NetworkError as error:
                # A timeout may hide a message that did arrive; sending it twice is
                # the lesser harm than losing it.
                delay = self._backoff.delay(failures + 1)
                logger.warning(
                    "sending to chat %s failed (%s); retrying in %.1fs", chat_id, error, delay
                )
            except TelegramError as error:
                logger.error("sending %s to chat %s failed: %s", what, chat_id, error)
                return True
            failures += 1
            if failures >= self._attempts:
                logger.error(
                    "gave up sending %s to chat %s after %d attempts", what, chat_id, failures
                )
                return True
            await asyncio.sleep(delay)


def _reply_parameters(message_id: int | None) -> ReplyParameters | None:
    if message_id is None:
        return None
    # The quoted message may have been deleted meanwhile; answer anyway.
    return ReplyParameters(message_id, allow_sending_without_reply=True)
