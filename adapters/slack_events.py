"""Slack events and slash commands as :class:`core.Inbound` messages, and where replies go.

Pure functions of the payloads Slack sends (plain dictionaries), so they need no
connection and are easy to test. Which messages count:

* new user text only: a message with a subtype (an edit, a deletion, a join, a topic
  change, a bot's post) is ignored, except a thread reply also sent to the channel
  and a message sharing a file with text;
* never the bot's own messages or another bot's (``bot_id``);
* in channels, only messages that mention the bot (``app_mention``) unless the
  adapter listens to every channel message.

Slack writes ``&``, ``<`` and ``>`` in message text as entities and mentions as
``<@U123>``; the mention of the bot is removed and the entities are decoded, so the
router sees what the user typed. Replies are escaped the other way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from core import Inbound

PLATFORM = "slack"

USER_TEXT_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})
"""Message subtypes that are new text a user wrote."""

Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SlackTarget:
    """Where replies go.

    Attributes:
        channel: the Slack channel (or DM) id.
        thread_ts: the thread replies stay in, if any.
        private_to: the user an ephemeral reply is shown to; ``None`` in a DM,
            where every reply is private anyway.
    """

    channel: str
    thread_ts: str | None = None
    private_to: str | None = None

    def public(self) -> SlackTarget:
        """Return this target for replies everyone in the channel sees."""
        return replace(self, private_to=None)


def escape(text: str) -> str:
    """Write ``&``, ``<`` and ``>`` as Slack's entities, so text shows as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escaped_length(char: str) -> int:
    """Return how many characters ``char`` takes in Slack's message text."""
    return {"&": 5, "<": 4, ">": 4}.get(char, 1)


def unescape(text: str) -> str:
    """Decode Slack's entities in message text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def strip_mention(text: str, bot_user: str) -> str:
    """Remove every mention of the bot (``<@U123>`` or ``<@U123|name>``) from ``text``."""
    if not bot_user:
        return text.strip()
    return re.sub(rf"[ \t]*<@{re.escape(bot_user)}(\|[^>]*)?>[ \t]*", " ", text).strip()


def is_user_text(event: Payload, bot_user: str) -> bool:
    """Tell whether a ``message`` or ``app_mention`` event is new text a person wrote."""
    return (
        event.get("subtype") in USER_TEXT_SUBTYPES
        and not event.get("bot_id")
        and bool(event.get("user"))
        and event.get("user") != bot_user
        and isinstance(event.get("text"), str)
    )


def message_inbound(
    body: Payload, bot_user: str, *, channel_messages: bool
) -> tuple[Inbound, SlackTarget] | None:
    """Return the message an event callback carries and where to answer it.

    Args:
        body: the event callback (``type: event_callback``) with its ``event``.
        bot_user: the bot's own user id (from ``auth.test``).
        channel_messages: the adapter answers every channel message, so channel
            messages come as ``message`` events and ``app_mention`` is ignored
            (Slack sends both for a mention, under two event ids).

    Returns:
        ``None`` for an event that is not for the bot.
    """
    event: Payload = body.get("event") or {}
    if not is_user_text(event, bot_user):
        return None
    direct = event.get("channel_type") == "im"
    if event.get("type") == "app_mention" and channel_messages:
        return None
    if event.get("type") == "message" and not direct and not channel_messages:
        return None  # in channels the bot answers mentions, which come as app_mention
    text = strip_mention(unescape(event["text"]), bot_user)
    if not text:
        return None
    team = str(body.get("team_id") or event.get("team") or "")
    channel = str(event.get("channel") or "")
    thread_ts = event.get("thread_ts")
    ts = str(event.get("ts") or "")
    inbound = Inbound(
        PLATFORM,
        f"{team}:{channel}",
        f"{team}:{event['user']}",
        text,
        thread_id=thread_ts,
        is_direct=direct,
        message_id=ts or None,
        timestamp=_time_of(ts),
    )
    target = SlackTarget(channel, thread_ts, None if direct else str(event["user"]))
    return inbound, target


def command_inbound(payload: Payload, command: str) -> tuple[Inbound, SlackTarget]:
    """Return a slash command as the message ``/command text`` and where to answer it.

    Args:
        payload: the ``slash_commands`` payload.
        command: the router's name of the command the Slack command maps to.
    """
    team = str(payload.get("team_id") or "")
    channel = str(payload.get("channel_id") or "")
    user = str(payload.get("user_id") or "")
    args = unescape(str(payload.get("text") or "")).strip()
    direct = channel.startswith("D")
    inbound = Inbound(
        PLATFORM,
        f"{team}:{channel}",
        f"{team}:{user}",
        f"/{command} {args}".strip(),
        is_direct=direct,
        display_name=payload.get("user_name") or None,
    )
    return inbound, SlackTarget(channel, None, None if direct else user)


def target_of(channel_id: str, thread_id: str | None) -> SlackTarget | None:
    """Return where :meth:`adapters.base.Adapter.send` posts for a ``team:channel`` id."""
    team, colon, channel = channel_id.partition(":")
    if not colon or not team or not channel:
        return None
    return SlackTarget(channel, thread_id)


def _time_of(ts: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except ValueError:
        return None
