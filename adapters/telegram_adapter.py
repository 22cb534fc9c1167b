"""The Telegram adapter: python-telegram-bot, by long polling or by webhook.

What users see is described in :mod:`adapters.telegram`, which also holds the
settings and the plugin; this module imports python-telegram-bot, so it is only
imported when the adapter is enabled.

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
* Webhook mode refuses to start without a secret token. Updates are received by
  :class:`adapters.telegram_webhook.WebhookServer`, not the library's own server:
  it checks the secret (403), the size before reading (413), the content type
  (415) and the body (400) before an update reaches the application.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from http import HTTPStatus
from typing import Any, Literal, TypeAlias

from telegram import Bot, BotCommand, Chat, Message, Update
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, ExtBot, TypeHandler
from telegram.request import HTTPXRequest

from adapters.base import BaseAdapter, Undeliverable
from adapters.splitting import split_text, utf16_units
from adapters.telegram import PLATFORM, TELEGRAM_API, is_webhook_secret
from adapters.telegram_deliveries import Taken, UpdateLedger
from adapters.telegram_live import TelegramLive
from adapters.telegram_sender import TEXT_LIMIT, Target, TelegramSender, retry_after_seconds
from adapters.telegram_updates import (
    ChatOrderedProcessor,
    OncePerChat,
    addressed_text,
    has_content,
    inbound_from_message,
    message_text,
)
from adapters.telegram_webhook import Refused, WebhookServer
from core import Deliveries, InboundHandler, LocalRoles, Reply, ReplyFile, Roles
from core.backoff import Backoff

logger = logging.getLogger(__name__)

NOT_TEXT_REPLY = "I only read text messages."
ALLOWED_UPDATES = ("message",)

_PTB_REQUEST_LOGGER = "telegram.request.BaseRequest"
_UNPARSABLE_ANSWER = "Can not load invalid JSON data"
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_MAX_COMMANDS = 100
_MAX_DESCRIPTION = 256

_Context: TypeAlias = ContextTypes.DEFAULT_TYPE
# What ApplicationBuilder builds without a job queue; the dicts are PTB's defaults
# for user, chat and bot data, which this adapter does not use.
_Application: TypeAlias = Application[
    ExtBot[None], _Context, dict[Any, Any], dict[Any, Any], dict[Any, Any], None
]


class TelegramAdapter(BaseAdapter[Target]):
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
        send_attempts: attempts to send one message before giving it up.
        max_concurrent_updates: updates handled at once (of different chats).

    Raises:
        ValueError: webhook mode without a valid secret token, or an unknown mode.
    """

    name = PLATFORM
    max_length = TEXT_LIMIT

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
        retry: Backoff | None = None,
        send_attempts: int = 6,
        max_concurrent_updates: int = 32,
        roles: Roles | None = None,
        deliveries: Deliveries | None = None,
    ) -> None:
        if mode not in ("polling", "webhook"):
            raise ValueError(f"unknown mode {mode!r}; expected 'polling' or 'webhook'")
        if mode == "webhook" and not (secret_token and is_webhook_secret(secret_token)):
            raise ValueError(
                "webhook mode needs a secret token of 1-256 characters A-Z, a-z, 0-9, _ and -"
            )
        super().__init__(handler)
        self._token = token
        self._mode = mode
        self._base_url = base_url.rstrip("/")
        self._commands = bot_commands(commands)
        self._webhook = (listen, port, url_path.strip("/"), webhook_url, secret_token)
        self._poll_timeout = poll_timeout
        self._timeouts = (connect_timeout, read_timeout)
        self._retry = retry or Backoff(maximum=30.0)
        self._send_attempts = send_attempts
        self._max_concurrent = max_concurrent_updates
        self._roles = roles or LocalRoles()
        self._ledger = UpdateLedger(deliveries, token)
        self._resumed: set[int] = set()
        """Posted updates being handled as taken over from a worker that died."""
        self._not_text_told = OncePerChat()
        self._receiving = asyncio.Event()
        self._sender: TelegramSender | None = None
        self._webhook_server: WebhookServer | None = None
        self._username = ""

    @property
    def username(self) -> str:
        """The bot's username as ``getMe`` reported it; empty until connected."""
        return self._username

    async def wait_until_receiving(self) -> None:
        """Return once connected and receiving updates (for tests and health checks).

        Raises:
            RuntimeError: the adapter was not started, or stopped before receiving.
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

    async def receive(self) -> None:
        """Connect (retrying), receive updates until stopped, then shut down cleanly.

        Updates received before the stop are still handled and answered.
        """
        # Idempotent: a filter object is added to a logger once.
        logging.getLogger(_PTB_REQUEST_LOGGER).addFilter(_without_unparsable_answers)
        if self._mode == "webhook":  # any worker may take posted updates
            await self._receive_until(asyncio.Event())
            return
        # Two pollers make Telegram answer 409 to both: one worker polls at a time.
        async with contextlib.AsyncExitStack() as holding:
            with self.interruptible():  # a stop may end the wait for the role
                lost = await holding.enter_async_context(self._roles.held(POLLING_ROLE))
            await self._receive_until(lost)
        if lost.is_set() and not self.stopping.is_set():
            raise RoleLostError("telegram: this worker lost the polling role; waiting for it again")

    async def _receive_until(self, lost: asyncio.Event) -> None:
        requests = (self._request(), self._request())
        application = self._application(*requests)
        try:
            # Until receiving, only retries and their pauses are in flight.
            with self.interruptible():
                await self._connect(application)
            self._receiving.set()
            logger.info("telegram: receiving updates for @%s by %s", self._username, self._mode)
            await _first_of(self.stopping, lost)
        finally:
            self._receiving.clear()
            # No new updates first; those already queued are still handled.
            if self._webhook_server is not None:
                await self._webhook_server.stop()
                self._webhook_server = None
            await _shut_down(application)
            self._sender = None
            for request in requests:
                await request.shutdown()

    async def _connect(self, application: _Application) -> None:
        try:
            await self._retrying("connecting to Telegram", application.initialize)
        except InvalidToken:
            # PTB's message quotes the token; logs must not.
            raise InvalidToken("Telegram rejected the bot token") from None
        self._username = application.bot.username
        self._sender = TelegramSender(application.bot, self._retry, self._send_attempts)
        await self._register_commands(application.bot)
        await application.start()
        if self._mode == "polling":
            await self._retrying("starting to poll", lambda: self._start_polling(application))
        else:
            await self._start_webhook(application)

    def split(self, text: str) -> list[str]:
        """Split at Telegram's limit, counted in UTF-16 code units as Telegram counts."""
        return split_text(text, TEXT_LIMIT, char_size=utf16_units)

    def destination(self, channel_id: str, thread_id: str | None) -> Target:
        """Return the chat (and forum topic) of a channel id, as in :class:`core.Inbound`."""
        return Target(int(channel_id), None if thread_id is None else int(thread_id))

    async def post_text(self, destination: Target, text: str, *, first: bool) -> None:
        """Send one message; only the first of a reply quotes the user's message.

        Raises:
            RuntimeError: the adapter is not connected.
            Undeliverable: the bot was blocked or removed from the chat.
        """
        if not await self._connected().send_message(destination, text, quote=first):
            raise Undeliverable(f"chat {destination.chat_id} cannot be reached")

    def open_stream(self, destination: Target) -> TelegramLive | None:
        """Show answers as they are written, in one message edited as it grows."""
        if self._sender is None:
            return None
        return TelegramLive(self._sender, destination, self.split)

    async def post_file(self, destination: Target, file: ReplyFile, *, first: bool) -> None:
        """Send ``file`` as a document under its own name.

        Raises:
            RuntimeError: the adapter is not connected.
            Undeliverable: the bot was blocked or removed from the chat.
        """
        if not await self._connected().send_file(destination, file, quote=first):
            raise Undeliverable(f"chat {destination.chat_id} cannot be reached")

    def _connected(self) -> TelegramSender:
        if self._sender is None:
            raise RuntimeError("the Telegram adapter is not connected")
        return self._sender

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

    async def _start_polling(self, application: _Application) -> None:
        updater = application.updater
        if updater is None:  # the builder always makes one; this narrows the type
            raise RuntimeError("the application has no updater")
        await updater.start_polling(
            timeout=timedelta(seconds=self._poll_timeout),
            allowed_updates=ALLOWED_UPDATES,
            error_callback=_log_polling_error,
        )

    async def _start_webhook(self, application: _Application) -> None:
        """Listen first (a port in use is fatal), then tell Telegram where to post."""
        listen, port, url_path, webhook_url, secret_token = self._webhook
        if secret_token is None:  # __init__ refuses webhook mode without one
            raise RuntimeError("webhook mode needs a secret token")
        server = WebhookServer(
            listen=listen,
            port=port,
            url_path=url_path,
            secret_token=secret_token,
            bot=application.bot,
            deliver=functools.partial(self._deliver_posted, application),
        )
        server.start()
        self._webhook_server = server
        url = webhook_url or f"http://{listen}:{port}/{url_path}"
        await self._retrying(
            "setting the webhook",
            lambda: application.bot.set_webhook(
                url, allowed_updates=ALLOWED_UPDATES, secret_token=secret_token
            ),
        )

    async def _on_update(self, update: Update, context: _Context) -> None:
        message = update.message
        if message is None:
            logger.debug("telegram: ignoring update %d (not a new message)", update.update_id)
            return
        # Posted updates were claimed by _deliver_posted; polled ones are claimed here.
        polled = self._mode == "polling"
        taken = await self._ledger.take(update.update_id) if polled else Taken.NEW
        if taken not in (Taken.NEW, Taken.RESUMED):
            logger.info("telegram: update %d was taken already; dropped", update.update_id)
            return
        redelivered = taken is Taken.RESUMED or update.update_id in self._resumed
        try:
            await self._on_message(message, redelivered=redelivered)
        except Exception:
            logger.exception("telegram: handling update %d failed", update.update_id)
        finally:
            if polled:
                await self._ledger.done(update.update_id)

    async def _deliver_posted(self, application: _Application, update: Update) -> None:
        """Handle a posted update before answering Telegram, once across workers.

        The 200 Telegram gets means the update was handled (stored and answered); an
        update another worker is still handling is refused with 503, so Telegram
        posts it again later.

        Raises:
            Refused: the update is being handled elsewhere.
        """
        taken = await self._ledger.take(update.update_id) if update.message else Taken.NEW
        if taken is Taken.DONE:
            logger.info("telegram: update %d was handled already; dropped", update.update_id)
            return
        if taken is Taken.BUSY:
            raise Refused(HTTPStatus.SERVICE_UNAVAILABLE, f"update {update.update_id} is busy")
        if taken is Taken.RESUMED:
            self._resumed.add(update.update_id)
        try:
            processing = application.process_update(update)
            await application.update_processor.process_update(update, processing)
        finally:
            self._resumed.discard(update.update_id)
            if update.message:
                await self._ledger.done(update.update_id)

    async def _on_message(self, message: Message, *, redelivered: bool = False) -> None:
        if self._sender is None:
            return
        target = _target(message)
        text = message_text(message)
        if text is None:
            if has_content(message) and self._not_text_told.first_time(message.chat.id):
                await self.post_replies(target, [Reply(NOT_TEXT_REPLY)])
            return
        addressed = addressed_text(text, self._username)
        if addressed is None:
            logger.debug("telegram: message %d is for another bot", message.message_id)
            return
        inbound = inbound_from_message(message, addressed)
        if inbound is not None:
            if redelivered:
                inbound = dataclasses.replace(inbound, redelivered=True)
            await self.handle(inbound, target)

    async def _on_error(self, update: object, context: _Context) -> None:
        # Never the update itself: it holds what the user wrote.
        update_id = update.update_id if isinstance(update, Update) else None
        logger.error(
            "telegram: error while processing update %s", update_id, exc_info=context.error
        )


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


POLLING_ROLE = "telegram-polling"
"""The role a worker holds while it polls Telegram (see :mod:`core.roles`)."""


class RoleLostError(RuntimeError):
    """This worker lost a role it was working in; the supervisor starts it again."""


async def _first_of(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
