"""The Slack adapter: slack-bolt's ``AsyncApp``, over Socket Mode or HTTP.

What users see is described in :mod:`adapters.slack`, which also holds the settings
and the plugin; this module imports slack-bolt, so it is only imported when the
adapter is enabled.

How it runs:

* :meth:`SlackAdapter.start` returns at once. Connecting (``auth.test``, which
  also tells the bot its own user id, then the Socket Mode connection or the HTTP
  endpoint) happens in the receive task, retrying network trouble with backoff,
  so other adapters never wait for it. A token Slack refuses ends the adapter
  (:meth:`SlackAdapter.wait` raises) and the supervisor restarts it.
* A lost Socket Mode connection is noticed by slack_sdk's ping monitor and
  reopened by it, with a fresh URL from ``apps.connections.open``.
* Bolt acknowledges each event at once and runs the listener in the background;
  an event id is recorded before the event is handled, so a redelivery (Slack's
  retry, in this process or after a restart) is dropped. Messages of one channel
  or thread are handled in the order they came.
* Slash commands are acknowledged as :meth:`adapters.base.BaseAdapter.handle`
  says: with the answer when it is quick, or after :attr:`SlackAdapter.ack_after`
  seconds with "Working on it…" shown to the caller, and the answer follows.
* Stopping closes the connection first, then lets the messages in progress finish.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import ClientError
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.base import BaseAdapter, Undeliverable
from adapters.slack import PLATFORM, SLACK_API
from adapters.slack_events import (
    SlackTarget,
    command_inbound,
    escaped_length,
    message_inbound,
    target_of,
)
from adapters.slack_http import SlackEndpoint
from adapters.slack_sender import TEXT_LIMIT, SlackSender, error_code, retry_handlers
from adapters.splitting import split_text
from adapters.streaming import LiveReply
from core import FirstDelivery, InboundHandler, Reply, ReplyFile
from core.backoff import Backoff
from core.locks import KeyedLocks

logger = logging.getLogger(__name__)

WORKING = "Working on it…"
"""What the caller of a slash command sees when the answer takes a while."""

REMEMBERED_EVENTS = 10_000
"""Event ids remembered in memory when no store records them."""

# Bolt reads $SLACK_BOT_TOKEN by itself when given no token, then warns that the
# client's (none: the token comes from ``authorize``) wins. Nothing is wrong.
_TOKEN_UNUSED = warning_client_prioritized_and_token_skipped()


def _worth_logging(record: logging.LogRecord) -> bool:
    return record.levelno > logging.DEBUG and record.getMessage() != _TOKEN_UNUSED


# slack_sdk and Bolt log request and event bodies at debug level; what users write
# stays out of the log, so their debug records are dropped, whatever the bot's level
# (Bolt copies this logger's filters to the loggers it makes from it).
_LIBRARY_LOGGER = logging.getLogger(f"{__name__}.library")
_LIBRARY_LOGGER.addFilter(_worth_logging)


@dataclass(frozen=True, slots=True)
class SlackConnection:
    """How the adapter reaches Slack; the secrets are kept out of its ``repr``.

    Attributes:
        mode: ``socket`` or ``http``.
        bot_token: the bot token (``xoxb-…``).
        app_token: Socket Mode: the app-level token (``xapp-…``).
        signing_secret: HTTP mode: the signing secret.
        api_url: the Web API base URL.
        listen: HTTP mode: the address to bind.
        port: HTTP mode: the port (0: any free one).
        path: HTTP mode: the endpoint's path.
        ping_interval: Socket Mode: seconds between pings; a connection silent
            for four of them is replaced.
        retries: how many times one Web API call is retried (rate limits,
            connection errors, 5xx) before it is given up.
    """

    mode: Literal["socket", "http"]
    bot_token: str = field(repr=False)
    app_token: str | None = field(default=None, repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    api_url: str = SLACK_API
    listen: str = "127.0.0.1"
    port: int = 3000
    path: str = "/slack/events"
    ping_interval: float = 10.0
    retries: int = 5

    def __post_init__(self) -> None:
        if self.mode == "socket" and not self.app_token:
            raise ValueError("Socket Mode needs an app-level token")
        if self.mode == "http" and not self.signing_secret:
            raise ValueError("HTTP mode needs the signing secret")


class SlackAdapter(BaseAdapter[SlackTarget]):
    """Connects one Slack app to the handler.

    Args:
        handler: where each message goes (the router's ``handle``).
        connection: how to reach Slack.
        commands: Slack command name (``/new``) to the router's command name.
        listen_to_channel_messages: answer every channel message, not only mentions.
        first_delivery: records an event id and says whether it is new (the
            store's, so it holds across restarts); ``None``: remembered in memory.
        retry: delays between attempts to connect.
    """

    name = PLATFORM
    max_length = TEXT_LIMIT

    def __init__(
        self,
        handler: InboundHandler,
        connection: SlackConnection,
        *,
        commands: Mapping[str, str] | None = None,
        listen_to_channel_messages: bool = False,
        first_delivery: FirstDelivery | None = None,
        retry: Backoff | None = None,
    ) -> None:
        super().__init__(handler)
        self._connection = connection
        self._commands = dict(commands or {})
        self._channel_messages = listen_to_channel_messages
        self._first_delivery = first_delivery or _InMemoryDeliveries().first_time
        self._retry = retry or Backoff(maximum=30.0)
        self._receiving = asyncio.Event()
        self._sender: SlackSender | None = None
        self._endpoint: SlackEndpoint | None = None
        self._bot_user = ""
        self._in_order = KeyedLocks()
        self._in_flight: set[asyncio.Task[Any]] = set()

    @property
    def bot_user(self) -> str:
        """The bot's own user id, as ``auth.test`` said; empty until connected."""
        return self._bot_user

    @property
    def http_port(self) -> int | None:
        """HTTP mode: the port the endpoint listens on, once it does."""
        return None if self._endpoint is None else self._endpoint.port

    async def wait_until_receiving(self) -> None:
        """Return once connected and receiving (for tests and health checks)."""
        await self._receiving.wait()

    # -- receiving ------------------------------------------------------------------

    async def receive(self) -> None:
        """Connect, then receive until stopped."""
        client = self._web_client(self._connection.bot_token)
        self._sender = SlackSender(client)
        socket: AsyncSocketModeHandler | None = None
        try:
            with self.interruptible():
                identity = await self._who_am_i(client)
                self._bot_user = identity.bot_user_id or ""
                app = self._bolt_app(identity)
                if self._connection.mode == "socket":
                    socket = await self._connect_socket(app)
                else:
                    await self._serve_http(app)
            self._receiving.set()
            logger.info("slack: receiving (%s mode) as %s", self._connection.mode, self._bot_user)
            await self.stopping.wait()
        finally:
            self._receiving.clear()
            await self._disconnect(socket)

    def _web_client(self, token: str | None) -> AsyncWebClient:
        return AsyncWebClient(
            token=token,
            base_url=self._connection.api_url,
            logger=_LIBRARY_LOGGER,
            retry_handlers=retry_handlers(self._connection.retries),
        )

    async def _who_am_i(self, client: AsyncWebClient) -> AuthorizeResult:
        """Ask ``auth.test`` who the bot is, retrying until Slack can be reached.

        Raises:
            RuntimeError: Slack refused the token.
        """
        failures = 0
        while True:
            try:
                answer = await client.auth_test()
                return AuthorizeResult(
                    enterprise_id=answer.get("enterprise_id"),
                    team_id=answer.get("team_id"),
                    bot_user_id=answer.get("user_id"),
                    bot_id=answer.get("bot_id"),
                    bot_token=self._connection.bot_token,
                )
            except SlackApiError as error:
                code = error_code(error)
                if error.response.status_code < 500 and code != "ratelimited":
                    raise RuntimeError(f"slack: auth.test failed: {code}") from None
                reason = code  # Slack (or a proxy before it) is down: try again
            except (ClientError, TimeoutError, OSError) as error:
                reason = str(error) or type(error).__name__
            failures += 1
            delay = self._retry.delay(failures)
            logger.warning("slack: cannot reach Slack (%s); retrying in %.1fs", reason, delay)
            await asyncio.sleep(delay)

    async def _connect_socket(self, app: AsyncApp) -> AsyncSocketModeHandler:
        socket = AsyncSocketModeHandler(
            app,
            self._connection.app_token,
            logger=_LIBRARY_LOGGER,
            web_client=self._web_client(None),
            ping_interval=self._connection.ping_interval,
        )
        try:
            await socket.connect_async()  # type: ignore[no-untyped-call]
        except BaseException:
            await socket.close_async()  # type: ignore[no-untyped-call]
            raise
        return socket

    async def _serve_http(self, app: AsyncApp) -> None:
        self._endpoint = SlackEndpoint(
            app,
            listen=self._connection.listen,
            port=self._connection.port,
            path=self._connection.path,
        )
        await self._endpoint.start()

    async def _disconnect(self, socket: AsyncSocketModeHandler | None) -> None:
        if socket is not None:
            await socket.close_async()  # type: ignore[no-untyped-call]
        if self._endpoint is not None:
            await self._endpoint.close()
            self._endpoint = None
        if self._in_flight:
            # No new event arrives now; the ones in progress are answered.
            await asyncio.wait(self._in_flight)

    def _bolt_app(self, identity: AuthorizeResult) -> AsyncApp:
        async def authorize() -> AuthorizeResult:
            # Known since connecting: Bolt's own lazy auth.test would suspend the
            # first events midway, and events must reach the listeners in order.
            return identity

        app = AsyncApp(
            client=self._web_client(None),
            authorize=authorize,
            signing_secret=self._connection.signing_secret or "",
            request_verification_enabled=self._connection.mode == "http",
            logger=_LIBRARY_LOGGER,
        )
        app.event("message")(self._on_event)
        app.event("app_mention")(self._on_event)
        # Anything else is acknowledged and dropped: unhandled, Bolt would answer 404
        # (Slack then retries) and log the whole event, text and all.
        app.event(re.compile(".*"))(self._ignore)
        for slack_name in self._commands:
            app.command(slack_name)(self._on_command)
        app.command(re.compile(".*"))(self._on_command)
        return app

    async def _on_event(self, body: dict[str, Any]) -> None:
        """Bolt's listener for message and mention events (acknowledged already)."""
        found = message_inbound(body, self._bot_user, channel_messages=self._channel_messages)
        if found is None:
            logger.debug("slack: ignoring event %s", body.get("event_id"))
            return
        inbound, target = found
        with self._tracked():
            async with self._in_order.lock_for((target.channel, target.thread_ts)):
                if not await self._is_new(body):
                    return
                await self.handle(inbound, target)

    async def _ignore(self, body: dict[str, Any]) -> None:
        logger.debug("slack: ignoring event %s", body.get("event_id"))

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Bolt's listener for slash commands: acknowledged within 3 s, then answered.

        A command this bot does not know by that name (the app's manifest and
        ``command_names`` disagree) goes to the router as it is, which answers with
        the nearest known name.
        """
        slack_name = str(body.get("command") or "/")
        name = self._commands.get(slack_name, slack_name.removeprefix("/"))
        inbound, target = command_inbound(body, name)
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def acknowledge() -> None:
            # Called at once with a quick answer, or after ack_after seconds.
            slow = self.ack_after > 0 and loop.time() - started >= self.ack_after * 0.99
            await ack(text=WORKING) if slow else await ack()

        with self._tracked():
            await self.handle(inbound, target, acknowledge=acknowledge)

    async def _is_new(self, body: Mapping[str, Any]) -> bool:
        event_id = body.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            return True
        if await self._first_delivery(PLATFORM, event_id):
            return True
        logger.info("slack: event %s was delivered again; handled once already", event_id)
        return False

    def _tracked(self) -> _InFlight:
        return _InFlight(self._in_flight)

    # -- sending --------------------------------------------------------------------

    def split(self, text: str) -> list[str]:
        """Split ``text`` so that each message fits :attr:`max_length` once escaped."""
        if not text.strip():
            return []
        return split_text(text, TEXT_LIMIT, char_size=escaped_length)

    def destination(self, channel_id: str, thread_id: str | None) -> SlackTarget | None:
        """Return the channel (and thread) of a ``team:channel`` id."""
        return target_of(channel_id, thread_id)

    async def post_replies(
        self, destination: SlackTarget, replies: Sequence[Reply], *, live: LiveReply | None = None
    ) -> None:
        """Post each reply; an ephemeral one only to the user who wrote (outside DMs).

        Slack shows no answer while it is written (``live`` is not used): the final text
        is posted.
        """
        try:
            for reply in replies:
                target = destination if reply.ephemeral else destination.public()
                await self._post_reply(target, reply, None)
        except Undeliverable:
            pass  # the sender logged it, once per channel

    async def post_text(self, destination: SlackTarget, text: str, *, first: bool) -> None:
        """Post one message (escaped, so it shows as written).

        Raises:
            RuntimeError: the adapter is not connected.
            Undeliverable: the bot can no longer post in the channel.
        """
        await self._connected().post_text(destination, text)

    async def post_file(self, destination: SlackTarget, file: ReplyFile, *, first: bool) -> None:
        """Upload ``file`` into the conversation (``files_upload_v2``).

        Raises:
            RuntimeError: the adapter is not connected.
            Undeliverable: the bot can no longer post in the channel.
        """
        await self._connected().post_file(destination.public(), file)

    def _connected(self) -> SlackSender:
        if self._sender is None:
            raise RuntimeError("the Slack adapter is not connected")
        return self._sender


class _InFlight:
    """Registers the running task as a message in progress while inside."""

    def __init__(self, tasks: set[asyncio.Task[Any]]) -> None:
        self._tasks = tasks
        self._task: asyncio.Task[Any] | None = None

    def __enter__(self) -> None:
        self._task = asyncio.current_task()
        if self._task is not None:
            self._tasks.add(self._task)

    def __exit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._tasks.discard(self._task)


class _InMemoryDeliveries:
    """Event ids seen by this process (the last :data:`REMEMBERED_EVENTS`)."""

    def __init__(self) -> None:
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()

    async def first_time(self, source: str, delivery_id: str) -> bool:
        key = f"{source}:{delivery_id}"
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > REMEMBERED_EVENTS:
            self._seen.popitem(last=False)
        return True
