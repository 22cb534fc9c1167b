"""Posting to Discord: in channels and as interaction responses.

Every message goes out with mentions switched off (:data:`NO_MENTIONS`): text a
user or a model wrote, echoed or read back from history, never pings
``@everyone``, a role or a user. Replies are split to :data:`TEXT_LIMIT` by the
adapter's base class before they get here.

Rate limits (429) are discord.py's: it waits and retries by itself. A channel the
bot cannot post to any more (403, 404) is logged once and the rest of that reply
dropped; other refusals are logged and the message skipped.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import discord

from adapters.base import Undeliverable
from core import ReplyFile

logger = logging.getLogger(__name__)

TEXT_LIMIT = 2000
"""The longest message Discord accepts, in characters."""

NO_MENTIONS = discord.AllowedMentions.none()
"""Nothing a message holds pings anyone."""


def attachment(file: ReplyFile) -> discord.File:
    """Return ``file`` as an upload under its own name (its last path component)."""
    return discord.File(io.BytesIO(file.content), filename=PurePath(file.name).name or "file")


@dataclass(slots=True)
class Target:
    """A channel (or thread) replies go to.

    Attributes:
        channel_id: the channel or thread.
        reply_to: the user's message the first message of a reply answers, if any.
    """

    channel_id: int
    reply_to: int | None = None


@dataclass(slots=True)
class Answering:
    """An interaction (a slash command) being answered.

    The first message is the interaction's response; a deferred one ("thinking…")
    is edited into it. Later messages are follow-ups. :attr:`ephemeral` is set
    for each reply before it is posted.

    Attributes:
        interaction: the interaction.
        ephemeral: the reply being posted is seen only by the caller.
    """

    interaction: discord.Interaction
    ephemeral: bool = False
    _deferred_open: bool = field(default=False, init=False)

    async def defer(self) -> None:
        """Tell Discord the answer is coming (it shows "thinking…")."""
        await self.interaction.response.defer(thinking=True)
        self._deferred_open = True

    async def post(self, text: str | None = None, file: ReplyFile | None = None) -> None:
        """Post one message: the response, the deferred one's edit, or a follow-up."""
        upload = attachment(file) if file is not None else discord.utils.MISSING
        content = text if text is not None else discord.utils.MISSING
        response = self.interaction.response
        if not response.is_done():
            await response.send_message(
                content, file=upload, ephemeral=self.ephemeral, allowed_mentions=NO_MENTIONS
            )
            return
        if self._deferred_open:
            self._deferred_open = False
            if not self.ephemeral:
                attachments = [upload] if file is not None else discord.utils.MISSING
                await self.interaction.edit_original_response(
                    content=content, attachments=attachments, allowed_mentions=NO_MENTIONS
                )
                return
            # A deferred response is public; a private answer replaces it.
            await self.interaction.delete_original_response()
        await self.interaction.followup.send(
            content, file=upload, ephemeral=self.ephemeral, allowed_mentions=NO_MENTIONS
        )


class ChannelSender:
    """Posts to channels through a client, telling apart lost channels from refusals.

    Args:
        client: the connected client.
    """

    def __init__(self, client: discord.Client) -> None:
        self._client = client
        self._lost: set[int] = set()

    async def send(
        self, target: Target, text: str | None, file: ReplyFile | None, *, first: bool
    ) -> None:
        """Post one message to ``target``.

        Raises:
            Undeliverable: the bot cannot post there (403, 404).
        """
        channel = self._client.get_partial_messageable(target.channel_id)
        extra: dict[str, Any] = {}
        if file is not None:
            extra["file"] = attachment(file)
        if first and target.reply_to is not None:
            extra["reference"] = discord.MessageReference(
                message_id=target.reply_to, channel_id=target.channel_id, fail_if_not_exists=False
            )
        try:
            await channel.send(content=text, allowed_mentions=NO_MENTIONS, **extra)
        except (discord.Forbidden, discord.NotFound) as error:
            raise self.lost(target.channel_id, error) from None
        except discord.HTTPException as error:
            logger.error("Discord refused a message for channel %s: %s", target.channel_id, error)

    def lost(self, channel_id: int, error: discord.HTTPException) -> Undeliverable:
        """Log a channel the bot lost access to, the first time; return the error to raise."""
        if channel_id not in self._lost:
            self._lost.add(channel_id)
            logger.warning(
                "cannot post to Discord channel %s (HTTP %s): the bot lost access; skipping",
                channel_id,
                error.status,
            )
        return Undeliverable(f"channel {channel_id} cannot be reached")

    def regained(self, channel_id: int) -> None:
        """Forget that ``channel_id`` was lost (a message came from it again)."""
        self._lost.discard(channel_id)
