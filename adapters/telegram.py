"""The Telegram adapter: python-telegram-bot, by long polling or by webhook.

What users see:

* Text messages, and the captions of photos and files, go to the handler. In
  groups, ``/cmd@otherbot`` is dropped and ``/cmd@thisbot`` reaches the handler as
  ``/cmd``; the command list is registered with ``setMyCommands`` at start.
* A message with no text at all (a sticker, a photo without caption) gets
  "I only read text messages." once per chat. Service messages (members joining,
  pins, new topics) get nothing.
* Edited messages are not requested from Telegram (``allowed_updates`` holds only
  ``message``) and are ignored, logged at debug, if a server sends them anyway:
  the original was answered already, and answering again would store the same
  turn twice. Channel posts and other update kinds are ignored the same way.
* Replies: see :mod:`adapters.telegram_sender`. They stay in the forum topic of the
  message; in groups the first message of each reply quotes the user's message.
  Telegram has no ephemeral messages: an ephemeral reply is sent like any other.

How it runs:

* :meth:`TelegramAdapter.start` returns at once. Connecting (``getMe``,
  ``setMyCommands``, then ``deleteWebhook`` or ``setWebhook``) happens in the
  background and retries with backoff for as long as Telegram cannot be reached,
  so other adapters never wait for it. Only a fatal error (an invalid token, a
  webhook port in use) ends the adapter: :meth:`TelegramAdapter.wait` raises it
  and the supervisor restarts the adapter.
* Polling: python-telegram-bot's updater retries failed ``getUpdates`` calls, and
  moves the offset past a batch only once the batch is received, so a failed call
  (a 502) neither loses nor repeats an update. Stopping confirms the last batch.
* Updates of different chats are handled concurrently; updates of one chat in
  the order they came. One failing update is logged and never stops the others.
* Webhook mode refuses to start without a secret token; a request without the
  right ``X-Telegram-Bot-Api-Secret-Token`` gets 403 and is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, TypeAlias

from telegram import Bot, BotCommand, Chat, Message, Update
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    ContextTypes,
    ExtBot,
    TypeHandler,
)
from telegram.request import HTTPXRequest

from adapters.telegram_sender import RetryPolicy, Target, TelegramSender, retry_after_seconds
from adapters.telegram_updates import (
    PLATFORM,
    OncePerChat,
    addressed_text,
    has_content,
    inbound_from_message,
    message_text,
)
from core.types import InboundHandler

logger = logging.getLogger(__name__)

TELEGRAM_API = "https://api.telegram.org"
"""Telegram's Bot API server; a self-hosted one is given the same way."""

NOT_TEXT_REPLY = "I only read text messages."
FAILURE_REPLY = "Sorry, that message could not be handled."
ALLOWED_UPDATES = ("message",)

_PTB_REQUEST_LOGGER = "telegram.request.BaseRequest"
_UNPARSABLE_ANSWER = "Can not load invalid JSON data"
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_MAX_COMMANDS = 100
_MAX_DESCRIPTION = 256

_Context: TypeAlias = ContextTypes.DEFAULT_TYPE
# What ApplicationBuilder builds without a job queue; the dicts are PTB's defaults
# for user, chat and bot data, which this adapter does not use.
_Application: TypeAlias = Application[
    ExtBot[None], _Context, dict[Any, Any], dict[Any, Any], dict[Any, Any], None
]


class TelegramAdapter:
    """Connects one Telegram bot to the handler.

    Args:
        handler: where each message goes (the router's ``handle``).
        token: the bot token from BotFather.
        mode: ``"polling"`` (long polling ``getUpdates``) or ``"webhook"``.
        base_url: the Bot API server, without ``/bot<token>``.
        commands: ``(name, description)`` pairs registered with ``setMyCommands``;
            names Telegram would refuse are left out with a warning.
        listen: webhook mode: the address the webhook server binds.
        port: webhook mode: its port.
        url_path: webhook mode: the path Telegram posts updates to.
        webhook_url: webhook mode: the public URL Telegram is told to use;
            ``http://{listen}:{port}/{url_path}`` when not given, which only a
            self-hosted Bot API server accepts (Telegram's needs HTTPS).
        secret_token: webhook mode: required; Telegram sends it with every update.
        poll_timeout: polling: seconds a ``getUpdates`` call waits for updates.
        connect_timeout: seconds to wait for a connection to the Bot API.
        read_timeout: seconds to wait for an answer from the Bot API.
        retry: delays between attempts to connect and to send.
        max_concurrent_updates: updates handled at once (of different chats).

    Raises:
        ValueError: webhook mode without a valid secret token, or an unknown mode.
    """

    name = PLATFORM

    def __init__(
        self,
        handler: InboundHandler,
        *,
        token: str,
        mode: Literal["polling", "webhook"] = "polling",
        base_url: str = TELEGRAM_API,
        commands: Sequence[tuple[str, str]] = (),
        listen: str = "127.0.0.1",
        port: int = 8443,
        url_path: str = "telegram",
        webhook_url: str | None = None,
        secret_token: str | None = None,
        poll_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        max_concurrent_updates: int = 32,
    ) -> None:
        if mode not in ("polling", "webhook"):
            raise ValueError(f"unknown mode {mode!r}; expected 'polling' or 'webhook'")
        if mode == "webhook" and not (secret_token and _SECRET_TOKEN.fullmatch(secret_token)):
            raise ValueError(
                "webhook mode needs a secret token of 1-256 characters A-Z, a-z, 0-9, _ and -"
            )
        self._handler = handler
        self._token = token
        self._mode = mode
        self._base_url = base_url.rstrip("/")
        self._commands = bot_commands(commands)
        self._webhook = (listen, port, url_path.strip("/"), webhook_url, secret_token)
        self._poll_timeout = poll_timeout
        self._timeouts = (connect_timeout, read_timeout)
        self._retry = retry or RetryPolicy()
        self._max_concurrent = max_concurrent_updates
        self._not_text_told = OncePerChat()
        self._task: asyncio.Task[None] | None = None
        self._stop_requested = asyncio.Event()
        self._receiving = asyncio.Event()
        self._sender: TelegramSender | None = None
        self._username = ""

    @property
    def username(self) -> str:
        """The bot's username as ``getMe`` reported it; empty until connected."""
        return self._username

    async def start(self) -> None:
        """Begin connecting in the background; returns at once.

        Safe to call again after :meth:`stop`: each run builds a fresh
        python-telegram-bot application.
        """
        if self._task is not None and not self._task.done():
            return
        self._stop_requested = asyncio.Event()
        self._receiving = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="telegram-adapter")

    async def stop(self) -> None:
        """Stop receiving; updates already received are handled and answered first."""
        task = self._task
        if task is None or task.done():
            return
        if not self._stop_requested.is_set():
            self._stop_requested.set()
            if not self._receiving.is_set():
                # Still connecting: only retries and their pauses are in flight.
                task.cancel()
        await asyncio.wait([task])

    async def wait(self) -> None:
        """Return once the adapter has stopped.

        Raises:
            Exception: what ended the adapter, such as ``telegram.error.InvalidToken``.
        """
        if self._task is None:
            raise RuntimeError("the Telegram adapter was not started")
        # asyncio.wait, not await: cancelling the waiter must not cancel the adapter.
        await asyncio.wait([self._task])
        if not self._task.cancelled():
            self._task.result()

    async def wait_until_receiving(self) -> None:
        """Return once connected and receiving updates (for tests and health checks).

        Raises:
            Exception: what ended the adapter, if it ended before receiving.
        """
        if self._task is None:
            raise RuntimeError("the Telegram adapter was not started")
        receiving = asyncio.ensure_future(self._receiving.wait())
        try:
            await asyncio.wait([receiving, self._task], return_when=asyncio.FIRST_COMPLETED)
        finally:
            receiving.cancel()
        if not self._receiving.is_set():
            await self.wait()
            raise RuntimeError("the Telegram adapter stopped before receiving updates")

    async def send(self, channel_id: str, text: str, thread_id: str | None = None) -> None:
        """Send ``text`` to a chat unprompted, such as a reset notice.

        Args:
            channel_id: the chat id, as in :attr:`core.models.Inbound.channel_id`.
            text: the text; split like any reply.
            thread_id: the forum topic, as in :attr:`core.models.Inbound.thread_id`.

        Raises:
            RuntimeError: the adapter is not connected.
        """
        if self._sender is None:
            raise RuntimeError("the Telegram adapter is not connected")
        thread = None if thread_id is None else int(thread_id)
        await self._sender.send_text(Target(int(channel_id), thread), text)

    async def _run(self) -> None:
        # Idempotent: a filter object is added to a logger once.
        logging.getLogger(_PTB_REQUEST_LOGGER).addFilter(_without_unparsable_answers)
        requests = (self._request(), self._request())
        application = self._application(*requests)
        try:
            try:
                await self._retrying("connecting to Telegram", application.initialize)
            except InvalidToken:
                # PTB's message quotes the token; logs must not.
                raise InvalidToken("Telegram rejected the bot token") from None
            self._username = application.bot.username
            self._sender = TelegramSender(application.bot, self._retry)
            await self._register_commands(application.bot)
            await application.start()
            await self._retrying("starting to receive updates", lambda: self._receive(application))
            self._receiving.set()
            logger.info("telegram: receiving updates for @%s by %s", self._username, self._mode)
            await self._stop_requested.wait()
        finally:
            # Updates received before the stop are still handled and answered here.
            await _shut_down(application)
            self._sender = None
            for request in requests:
                await request.shutdown()

    def _request(self) -> HTTPXRequest:
        connect, read = self._timeouts
        return HTTPXRequest(connect_timeout=connect, read_timeout=read, write_timeout=read)

    def _application(self, request: HTTPXRequest, updates_request: HTTPXRequest) -> _Application:
        application = (
            ApplicationBuilder()
            .token(self._token)
            .base_url(f"{self._base_url}/bot")
            .base_file_url(f"{self._base_url}/file/bot")
            .request(request)
            .get_updates_request(updates_request)
            .job_queue(None)
            .concurrent_updates(ChatOrderedProcessor(self._max_concurrent))
            .build()
        )
        application.add_handler(TypeHandler(Update, self._on_update))
        application.add_error_handler(self._on_error)
        return application

    async def _retrying(self, what: str, action: Callable[[], Awaitable[object]]) -> None:
        """Run ``action`` until it succeeds; network trouble is retried, anything else raised."""
        failures = 0
        while True:
            try:
                await action()
                return
            except RetryAfter as error:
                delay = retry_after_seconds(error)
                logger.warning("telegram: flood control while %s; waiting %.1fs", what, delay)
            except BadRequest:
                raise
            except NetworkError as error:
                failures += 1
                delay = self._retry.delay(failures)
                logger.warning("telegram: %s failed (%s); retrying in %.1fs", what, error, delay)
            await asyncio.sleep(delay)

    async def _register_commands(self, bot: Bot) -> None:
        if not self._commands:
            return
        try:
            await self._retrying(
                "registering commands", lambda: bot.set_my_commands(self._commands)
            )
        except TelegramError as error:
            # A missing command menu is no reason not to answer messages.
            logger.error("telegram: setMyCommands failed: %s", error)

    async def _receive(self, application: _Application) -> None:
        updater = application.updater
        if updater is None:  # the builder always makes one; this narrows the type
            raise RuntimeError("the application has no updater")
        if self._mode == "polling":
            await updater.start_polling(
                timeout=timedelta(seconds=self._poll_timeout),
                allowed_updates=ALLOWED_UPDATES,
                error_callback=_log_polling_error,
            )
            return
        listen, port, url_path, webhook_url, secret_token = self._webhook
        await updater.start_webhook(
            listen=listen,
            port=port,
            url_path=url_path,
            webhook_url=webhook_url,
            secret_token=secret_token,
            allowed_updates=ALLOWED_UPDATES,
        )

    async def _on_update(self, update: Update, context: _Context) -> None:
        message = update.message
        if message is None:
            logger.debug("telegram: ignoring update %d (not a new message)", update.update_id)
            return
        try:
            await self._on_message(message)
        except Exception:
            logger.exception("telegram: handling update %d failed", update.update_id)

    async def _on_message(self, message: Message) -> None:
        sender = self._sender
        if sender is None:
            return
        target = _target(message)
        text = message_text(message)
        if text is None:
            if has_content(message) and self._not_text_told.first_time(message.chat.id):
                await sender.send_text(target, NOT_TEXT_REPLY)
            return
        addressed = addressed_text(text, self._username)
        if addressed is None:
            logger.debug("telegram: message %d is for another bot", message.message_id)
            return
        inbound = inbound_from_message(message, addressed)
        if inbound is None:
            return
        try:
            replies = await self._handler(inbound)
        except Exception:
            # The router answers bad input itself; reaching here is a bug.
            logger.exception("telegram: the handler failed on message %s", inbound.message_id)
            await sender.send_text(target, FAILURE_REPLY)
            return
        await sender.send_replies(target, replies)

    async def _on_error(self, update: object, context: _Context) -> None:
        logger.error("telegram: error while processing %r", update, exc_info=context.error)


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Handles updates of different chats concurrently, and of one chat in order.

    A chat has a lock only while it has updates in flight, so memory is bounded
    by ``max_concurrent_updates``, not by the number of chats ever seen.

    Args:
        max_concurrent_updates: updates handled at once.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._chats: dict[int, _ChatLock] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run ``coroutine`` once the update's chat has no earlier update running."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        entry = self._chats.setdefault(chat.id, _ChatLock())
        entry.users += 1
        try:
            async with entry.lock:
                await coroutine
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._chats[chat.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""


@dataclass(slots=True)
class _ChatLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


def bot_commands(commands: Sequence[tuple[str, str]]) -> list[BotCommand]:
    """Return the commands Telegram accepts, warning about the ones it would refuse.

    Telegram allows up to 100 commands named with 1-32 lowercase letters, digits
    and underscores, each with a description of 1-256 characters.
    """
    accepted: list[BotCommand] = []
    for name, description in commands:
        if not _COMMAND_NAME.fullmatch(name):
            logger.warning("telegram: command %r is not a valid Telegram command name", name)
            continue
        if len(accepted) == _MAX_COMMANDS:
            logger.warning("telegram: more than %d commands; the rest are left out", _MAX_COMMANDS)
            break
        summary = " ".join(description.split())[:_MAX_DESCRIPTION] or name
        accepted.append(BotCommand(name, summary))
    return accepted


def _target(message: Message) -> Target:
    thread = message.message_thread_id if message.is_topic_message else None
    quote = None if message.chat.type == Chat.PRIVATE else message.message_id
    return Target(message.chat.id, thread, quote)


def _without_unparsable_answers(record: logging.LogRecord) -> bool:
    """Drop python-telegram-bot's traceback for an answer that is not JSON.

    An error page from a proxy (Telegram's own 502 is HTML) makes PTB log "Can not
    load invalid JSON data" at ERROR with a JSONDecodeError traceback, then raise a
    NetworkError holding the same page, which whoever retries logs as one warning.
    Kept, the tracebacks would fill the log during an outage, one per retry.
    """
    return not (isinstance(record.msg, str) and record.msg.startswith(_UNPARSABLE_ANSWER))


def _log_polling_error(error: TelegramError) -> None:
    # Called by the updater, which retries by itself; must not raise.
    logger.warning("telegram: getUpdates failed (%s); retrying", error)


async def _shut_down(application: _Application) -> None:
    updater = application.updater
    if updater is not None and updater.running:
        await updater.stop()
    if application.running:
        await application.stop()
    await application.shutdown()
