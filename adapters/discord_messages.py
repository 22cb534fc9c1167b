"""Reading Discord messages: which are for the bot, and what the handler sees of them.

Nothing of discord.py leaves this module: a :class:`discord.Message` becomes a
:class:`core.Inbound`, or nothing.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

import discord

from adapters.discord import PLATFORM
from core import Inbound


@dataclass(frozen=True, slots=True)
class Addressing:
    """How the bot recognises what is meant for it.

    Attributes:
        bot_id: the bot's user id.
        prefix: what starts a text command.
        commands: the names of the bot's top-level commands.
        respond_to_all: answer every plain message in servers, not only mentions.
    """

    bot_id: int
    prefix: str
    commands: Collection[str]
    respond_to_all: bool = False

    def text_for(self, message: discord.Message) -> str | None:
        """Return what the router should get from ``message``, or ``None`` to ignore it.

        A command comes back as ``/name args``, whatever the prefix; a plain message
        as written, with the bot's leading mention removed.
        """
        if _ignored(message, self.bot_id):
            return None
        direct = message.guild is None
        mention = re.compile(rf"<@!?{self.bot_id}>")
        text = message.content.strip()
        lead = mention.match(text)
        if lead is not None:
            rest = text[lead.end() :].strip()
            return (self._command(rest, bare=True) or rest) or None
        command = self._command(text, bare=False, direct=direct)
        if command is not None:
            return command
        if direct or self.respond_to_all or mention.search(text) or self._own_thread(message):
            return text or None
        return None

    def _command(self, text: str, *, bare: bool, direct: bool = False) -> str | None:
        """``/name args`` if ``text`` is a command, else ``None``.

        With the prefix, any word is a command in DMs (the router answers an unknown
        one) and a known one in servers; after the mention a known bare word is too.
        """
        if text.startswith(self.prefix):
            body = text[len(self.prefix) :]
        elif text.startswith("/"):
            body = text[1:]  # slash commands typed as text by bridges
        elif bare:
            body = text
        else:
            return None
        name = body.split(maxsplit=1)[0].split("@")[0].lower() if body.strip() else ""
        if not name or body[0].isspace():
            return None
        if direct or name in self.commands:
            return f"/{body}"
        return None

    def _own_thread(self, message: discord.Message) -> bool:
        channel = message.channel
        return isinstance(channel, discord.Thread) and channel.owner_id == self.bot_id


def _ignored(message: discord.Message, bot_id: int) -> bool:
    """The bot's own messages, other bots', webhooks' and system messages."""
    return (
        message.author.id == bot_id
        or message.author.bot
        or message.webhook_id is not None
        or message.is_system()
    )


def place_of(channel: object, guild_id: int | None) -> tuple[str, str | None, bool]:
    """Return the channel id, thread id and whether it is a DM, for a channel.

    Channels are ``<guild>:<channel>``, DMs ``dm:<channel>``; a thread is its own
    id under its parent's channel id.
    """
    if guild_id is None:
        return f"dm:{getattr(channel, 'id', 0)}", None, True
    if isinstance(channel, discord.Thread):
        return f"{guild_id}:{channel.parent_id}", str(channel.id), False
    return f"{guild_id}:{getattr(channel, 'id', 0)}", None, False


def inbound_from_message(message: discord.Message, text: str) -> Inbound:
    """Return the inbound message for ``message`` with the text the router should get."""
    guild_id = message.guild.id if message.guild is not None else None
    channel_id, thread_id, direct = place_of(message.channel, guild_id)
    author = message.author
    return Inbound(
        platform=PLATFORM,
        channel_id=channel_id,
        user_id=str(author.id),
        text=text,
        thread_id=thread_id,
        is_direct=direct,
        message_id=str(message.id),
        timestamp=message.created_at,
        display_name=author.display_name,
    )


def parse_channel(channel_id: str, thread_id: str | None) -> int | None:
    """Return the Discord channel to post to for a channel (and thread) id, or ``None``."""
    if thread_id is not None:
        return int(thread_id) if thread_id.isdigit() else None
    _, _, channel = channel_id.rpartition(":")
    return int(channel) if channel.isdigit() and ":" in channel_id else None
