"""Discord: its ``[adapters.discord]`` settings, its secret and its plugin.

The adapter itself is :class:`adapters.discord_adapter.DiscordAdapter`; this module
does not import discord.py, so reading the configuration never loads it:
:func:`build` imports it when the adapter is enabled.

What users see:

* Plain messages in DMs are all answered; in a server channel only those that
  mention the bot, or are written in a thread the bot started
  (``respond_in_guilds = "mention"``, the default), or every one (``"all"``).
  Replies go to the same place; in servers the first message of a reply answers
  the user's message.
* Text commands: ``/new`` (or the ``command_prefix`` chosen), or the bot's mention
  followed by a command name (``@bot checkpoint list``). In servers a prefixed
  word is a command only when it names one of the bot's commands, so other bots'
  commands are left alone.
* Slash commands built from the command menu (see :mod:`adapters.discord_commands`),
  with suggestions of the caller's own checkpoint and session ids.
* Ids: users ``discord:<user>``; channels ``<guild>:<channel>`` (DMs ``dm:<channel>``);
  a thread is the thread id under its parent channel.
* Ignored: the bot's own messages, other bots, webhooks, system messages and
  edits (the original was answered already).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from adapters.base import Adapter, AdapterContext, AdapterPlugin, AdapterSettings, secret_from_env

PLATFORM = "discord"

DISCORD_API = "https://discord.com/api"
"""Discord's REST API, without the version (discord.py adds ``/v10``)."""

DISCORD_GATEWAY = "wss://gateway.discord.gg/"
"""Discord's gateway."""

MAX_SHARDS = 10_000

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class DiscordSettings(AdapterSettings):
    """``[adapters.discord]``: a Discord bot on the gateway.

    Attributes:
        enabled: whether ``sessionbot run`` connects to Discord.
        token_env: the variable holding the bot token (developer portal, Bot tab).
        command_prefix: what starts a text command in a message (``/`` by
            default); the bot's mention works too.
        sync_commands: where slash commands are registered at start: ``global``
            (every server; Discord may take a while to show changes), ``guilds``
            (only ``guild_ids``, at once: for development) or ``off``.
        guild_ids: the servers ``guilds`` registers slash commands in.
        respond_in_guilds: ``mention`` (plain messages in servers are answered
            only when they mention the bot or are in a thread the bot started)
            or ``all``. DMs are always answered.
        message_content: ask for the privileged Message Content intent; without
            it Discord sends the bot no text of server messages that do not
            mention it (DMs, mentions and slash commands still work).
        shard_count: shards of the whole bot; unset: discord.py asks Discord.
        shard_ids: the shards this process runs (needs ``shard_count``); unset: all.
        api_base_url: Discord's REST API without ``/v10``; a proxy or a test fake.
        gateway_url: the gateway; a proxy or a test fake.
    """

    token_env: str = "DISCORD_BOT_TOKEN"
    command_prefix: str = Field(default="/", min_length=1, max_length=8)
    sync_commands: Literal["global", "guilds", "off"] = "global"
    guild_ids: tuple[int, ...] = Field(default=(), max_length=100)
    respond_in_guilds: Literal["mention", "all"] = "mention"
    message_content: bool = True
    shard_count: int | None = Field(default=None, ge=1, le=MAX_SHARDS)
    shard_ids: tuple[int, ...] | None = None
    api_base_url: str = DISCORD_API
    gateway_url: str = DISCORD_GATEWAY

    @field_validator("token_env")
    @classmethod
    def _token_env(cls, name: str) -> str:
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an environment variable name")
        return name

    @field_validator("command_prefix")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        if any(char.isspace() for char in prefix) or prefix.startswith("<"):
            raise ValueError("the prefix cannot hold whitespace or start with '<'")
        return prefix

    @field_validator("guild_ids")
    @classmethod
    def _guild_ids(cls, ids: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 0 < guild < 2**64 for guild in ids):
            raise ValueError("a guild id is a positive number (a Discord snowflake)")
        return ids

    @field_validator("api_base_url")
    @classmethod
    def _api_base_url(cls, url: str) -> str:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
        return url.rstrip("/")

    @field_validator("gateway_url")
    @classmethod
    def _gateway_url(cls, url: str) -> str:
        if not url.startswith(("wss://", "ws://")):
            raise ValueError(f"expected a wss:// or ws:// URL, got {url!r}")
        return url

    @model_validator(mode="after")
    def _consistent(self) -> DiscordSettings:
        if self.sync_commands == "guilds" and not self.guild_ids:
            raise ValueError('sync_commands = "guilds" needs guild_ids')
        if self.shard_ids is not None:
            if self.shard_count is None:
                raise ValueError("shard_ids needs shard_count")
            if not self.shard_ids or any(not 0 <= s < self.shard_count for s in self.shard_ids):
                raise ValueError(f"shard_ids must be shards from 0 to {self.shard_count - 1}")
        return self


def check_secrets(settings: DiscordSettings) -> None:
    """Read the token, so a missing one stops start-up before the database is opened.

    Raises:
        ConfigError: the variable is unset or empty; the message names it.
    """
    secret_from_env(settings.token_env, key=f"adapters.{PLATFORM}.token_env")


def build(settings: DiscordSettings, context: AdapterContext) -> Adapter:
    """Build the adapter; the command menu becomes its slash commands.

    Raises:
        ConfigError: as :func:`check_secrets`.
    """
    token = secret_from_env(settings.token_env, key=f"adapters.{PLATFORM}.token_env")
    from adapters.discord_adapter import DiscordAdapter

    return DiscordAdapter(
        context.handler, token=token, settings=settings, menu=context.menu, suggest=context.suggest
    )


plugin = AdapterPlugin(
    name=PLATFORM, settings_model=DiscordSettings, build=build, check_secrets=check_secrets
)
"""Discord's entry point in the ``sessionbot.adapters`` group."""
