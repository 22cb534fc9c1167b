"""The Discord adapter: discord.py on the gateway, messages and slash commands.

What users see is described in :mod:`adapters.discord`, which also holds the
settings and the plugin; this module imports discord.py, so it is only imported
when the adapter is enabled.

How it runs:

* :meth:`DiscordAdapter.start` returns at once; logging in, registering the slash
  commands and connecting to the gateway happen in the receive task.
  discord.py reconnects and resumes the gateway session by itself after a network
  fault, so no event is lost or repeated, and waits out 429s. Only a fatal error
  (an invalid token, a privileged intent not switched on) ends the adapter:
  :meth:`DiscordAdapter.wait` raises it and the supervisor restarts the adapter.
* Messages of one channel are handled one at a time, in the order they came;
  different channels at once. A typing indicator shows while a plain message is
  answered.
* A slash command is answered within Discord's 3 seconds: when the answer is not
  ready after :attr:`DiscordAdapter.ack_after` seconds the interaction is deferred
  ("thinking…") and the answer edited in when it comes. Ephemeral replies (errors,
  usage lines) are seen only by the caller.
* Stopping lets messages in progress finish, then closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import discord
import yarl
from discord.gateway import DiscordWebSocket

from adapters.base import BaseAdapter, Undeliverable
from adapters.discord import PLATFORM, DiscordSettings
from adapters.discord_commands import build_tree, sync_commands
from adapters.discord_messages import Addressing, inbound_from_message, parse_channel, place_of
from adapters.discord_sender import TEXT_LIMIT, Answering, ChannelSender, Target
from adapters.streaming import LiveReply
from core import (
    Completer,
    Inbound,
    InboundHandler,
    MenuCommand,
    Reply,
    ReplyFile,
    Suggest,
    Suggestion,
)
from core.locks import KeyedLocks

logger = logging.getLogger(__name__)

Destination = Target | Answering

FINISH_TIMEOUT = 30.0
"""Seconds a stop waits for messages in progress before closing the connection."""


def point_discord_at(api_base_url: str, gateway_url: str) -> None:
    """Set where discord.py sends REST requests and opens the gateway, for this process.

    discord.py builds every REST URL from ``discord.http.Route.BASE`` and connects
    to ``DiscordWebSocket.DEFAULT_GATEWAY``; both are class attributes meant as
    its configuration, so this is the one place ``api_base_url`` and
    ``gateway_url`` take effect. It is process-wide, like the attributes: every
    Discord adapter of one process talks to the same Discord.
    """
    discord.http.Route.BASE = f"{api_base_url.rstrip('/')}/v10"
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def keep_text_out_of_logs() -> None:
    """Hold discord.py's loggers at INFO or above, and drop its voice warnings.

    At DEBUG discord.py logs every gateway event and REST answer whole, message
    text included; what users write stays out of the log at every level. The bot
    has no voice, so the warnings that voice libraries are missing say nothing.
    """
    library = logging.getLogger("discord")
    if library.getEffectiveLevel() < logging.INFO:
        library.setLevel(logging.INFO)
    client = logging.getLogger("discord.client")
    if _no_voice_warning not in client.filters:
        client.addFilter(_no_voice_warning)


def _no_voice_warning(record: logging.LogRecord) -> bool:
    return "voice will NOT be supported" not in record.getMessage()


class DiscordAdapter(BaseAdapter[Destination]):
    """Connects one Discord bot to the handler.

    Args:
        handler: where each message goes (the router's ``handle``).
        token: the bot token.
        settings: the ``[adapters.discord]`` table.
        menu: the commands, for slash commands and text commands.
        suggest: the caller's own ids while they type (autocomplete).
        guild_ready_timeout: seconds discord.py waits, after connecting, for more
            servers' data before it counts as ready (discord.py's own default).
    """

    name = PLATFORM
    max_length = TEXT_LIMIT
    ack_after = 2.0  # Discord drops an interaction not answered within 3 seconds

    def __init__(
        self,
        handler: InboundHandler,
        *,
        token: str,
        settings: DiscordSettings,
        menu: Sequence[MenuCommand] = (),
        suggest: Completer | None = None,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        super().__init__(handler)
        self._guild_ready_timeout = guild_ready_timeout
        self._token = token
        self._settings = settings
        self._menu = tuple(menu)
        self._suggest = suggest
        self._client: _Client | None = None
        self._sender: ChannelSender | None = None
        self._addressing: Addressing | None = None
        self._ready = asyncio.Event()
        self._order = KeyedLocks()
        self._busy: set[asyncio.Task[Any]] = set()

    async def wait_until_ready(self) -> None:
        """Return once connected and receiving events (for tests and health checks)."""
        await self._ready.wait()

    # -- lifecycle ------------------------------------------------------------------

    async def receive(self) -> None:
        """Log in, register slash commands, and receive until stopped.

        Raises:
            discord.LoginFailure: the token was refused.
            discord.PrivilegedIntentsRequired: ``message_content`` is on but the
                intent is not switched on in the developer portal.
        """
        point_discord_at(self._settings.api_base_url, self._settings.gateway_url)
        keep_text_out_of_logs()
        client = _Client(self, self._settings, self._guild_ready_timeout)
        self._client, self._sender = client, ChannelSender(client)
        try:
            async with client:
                with self.interruptible():
                    await client.login(self._token)
                await self._connected(client)
        except discord.PrivilegedIntentsRequired:
            logger.error(
                "Discord refused the Message Content intent: switch it on in the developer "
                "portal (Bot, Privileged Gateway Intents) or set "
                "adapters.discord.message_content = false"
            )
            raise
        finally:
            self._ready.clear()

    async def _connected(self, client: _Client) -> None:
        connection = asyncio.create_task(client.connect(reconnect=True))
        stopping = asyncio.create_task(self.stopping.wait())
        await asyncio.wait({connection, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if connection.done():
            connection.result()
            return
        if self._busy:
            await asyncio.wait(self._busy, timeout=FINISH_TIMEOUT)
        await client.close()
        await asyncio.wait([connection])

    async def setup(self, client: _Client) -> None:
        """Build and register the slash commands (once logged in)."""
        tree = build_tree(client, self._menu, self.answer_interaction, self._suggestions)
        await sync_commands(tree, self._settings.sync_commands, self._settings.guild_ids)

    def connected(self, bot_id: int) -> None:
        """The gateway session is ready."""
        names = [name for entry in self._menu for name in (entry.name, *entry.aliases)]
        self._addressing = Addressing(
            bot_id,
            self._settings.command_prefix,
            frozenset(names),
            respond_to_all=self._settings.respond_in_guilds == "all",
        )
        self._ready.set()
        logger.info("connected to Discord as user %s", bot_id)

    # -- messages -------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        """Answer ``message`` if it is for the bot, in order within its channel."""
        addressing = self._addressing
        if addressing is None or self.stopping.is_set():
            return
        text = addressing.text_for(message)
        if text is None:
            return
        with self._tracked():
            inbound = inbound_from_message(message, text)
            target = Target(message.channel.id, message.id if message.guild else None)
            show_typing = not text.startswith("/")
            async with (
                self._order.lock_for(message.channel.id),
                self._typing(message.channel, show=show_typing),
            ):
                await self.handle(inbound, target)

    @contextlib.contextmanager
    def _tracked(self) -> Iterator[None]:
        """Count the current task as a message in progress, which a stop lets finish."""
        task = asyncio.current_task()
        if task is not None:
            self._busy.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._busy.discard(task)

    @contextlib.asynccontextmanager
    async def _typing(self, channel: discord.abc.Messageable, *, show: bool) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if show:
                try:
                    await stack.enter_async_context(channel.typing())
                except discord.HTTPException as error:  # no permission: answer anyway
                    logger.debug("no typing indicator: %s", error.status)
            yield

    # -- slash commands -------------------------------------------------------------

    async def answer_interaction(self, interaction: discord.Interaction, text: str) -> None:
        """Answer a slash command written as ``text``, deferring it if the answer is slow."""
        with self._tracked():
            target = Answering(interaction)
            replies = await self._answer_in_time(
                _inbound_from_interaction(interaction, text), target
            )
            await self.post_replies(target, replies)

    async def _answer_in_time(self, inbound: Inbound, target: Answering) -> list[Reply]:
        answering = asyncio.ensure_future(self._handler(inbound))
        try:
            done, _ = await asyncio.wait([answering], timeout=self.ack_after)
            if not done:
                try:
                    await target.defer()
                except discord.HTTPException as error:
                    logger.warning("deferring interaction %s failed: %s", inbound.message_id, error)
            return await answering
        except Exception:
            logger.exception("%s: handling interaction %s failed", self.name, inbound.message_id)
            return [Reply(self.failure_reply, ephemeral=True)]
        finally:
            answering.cancel()  # only ever cancels when this call itself was cancelled

    async def _suggestions(
        self, interaction: discord.Interaction, kind: Suggest, typed: str
    ) -> list[Suggestion]:
        if self._suggest is None:
            return []
        return await self._suggest(_inbound_from_interaction(interaction, ""), kind, typed)

    # -- delivery -------------------------------------------------------------------

    async def post_replies(
        self, destination: Destination, replies: Sequence[Reply], *, live: LiveReply | None = None
    ) -> None:
        """Post each reply; an interaction's replies are ephemeral when they say so."""
        if not isinstance(destination, Answering):
            await super().post_replies(destination, replies, live=live)
            return
        for reply in replies:
            destination.ephemeral = reply.ephemeral
            await super().post_replies(destination, [reply], live=live)

    def destination(self, channel_id: str, thread_id: str | None) -> Destination | None:
        """Return the channel (or thread) a notice for ``channel_id`` goes to."""
        channel = parse_channel(channel_id, thread_id)
        return Target(channel) if channel is not None else None

    async def post_text(self, destination: Destination, text: str, *, first: bool) -> None:
        """Post one message of at most 2,000 characters."""
        await self._post(destination, text, None, first=first)

    async def post_file(self, destination: Destination, file: ReplyFile, *, first: bool) -> None:
        """Post a file as an attachment."""
        await self._post(destination, None, file, first=first)

    async def _post(
        self, destination: Destination, text: str | None, file: ReplyFile | None, *, first: bool
    ) -> None:
        if isinstance(destination, Target):
            if self._sender is None:
                raise Undeliverable("not connected to Discord")
            await self._sender.send(destination, text, file, first=first)
            return
        try:
            await destination.post(text, file)
        except discord.NotFound:
            raise Undeliverable("the interaction expired") from None
        except discord.HTTPException as error:
            logger.error("Discord refused an interaction reply: %s", error)


def _inbound_from_interaction(interaction: discord.Interaction, text: str) -> Inbound:
    channel_id, thread_id, direct = place_of(interaction.channel, interaction.guild_id)
    if interaction.channel is None:  # a channel discord.py could not describe
        channel_id = f"{interaction.guild_id or 'dm'}:{interaction.channel_id}"
    user = interaction.user
    return Inbound(
        platform=PLATFORM,
        channel_id=channel_id,
        user_id=str(user.id),
        text=text,
        thread_id=thread_id,
        is_direct=direct,
        message_id=str(interaction.id),
        timestamp=interaction.created_at,
        display_name=user.display_name,
    )


class _Client(discord.AutoShardedClient):
    """discord.py's client, handing its events to the adapter."""

    def __init__(
        self, adapter: DiscordAdapter, settings: DiscordSettings, guild_ready_timeout: float
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = settings.message_content
        shards: dict[str, Any] = {"shard_count": settings.shard_count}
        if settings.shard_ids is not None:
            shards["shard_ids"] = list(settings.shard_ids)
        super().__init__(
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            chunk_guilds_at_startup=False,
            guild_ready_timeout=guild_ready_timeout,
            # No message cache: nothing reads it, and an edit arriving before a
            # message is handled would change the cached message's text under it.
            max_messages=None,
            **shards,
        )
        self.adapter = adapter

    async def setup_hook(self) -> None:
        """Register the slash commands once logged in."""
        await self.adapter.setup(self)

    async def on_ready(self) -> None:
        """Tell the adapter the session is ready."""
        if self.user is not None:
            self.adapter.connected(self.user.id)

    async def on_message(self, message: discord.Message) -> None:
        """Hand a new message to the adapter; edits never come here."""
        await self.adapter.on_message(message)
