"""Builders for the values tests feed sessionbot: inbound messages first of all."""

from __future__ import annotations

from datetime import datetime

from core.models import Inbound, NewMessage, Role


def inbound(
    text: str = "hello",
    *,
    user: str = "alice",
    channel: str = "c1",
    platform: str = "console",
    thread: str | None = None,
    is_direct: bool = False,
    message_id: str | None = None,
    display_name: str | None = None,
    timestamp: datetime | None = None,
    redelivered: bool = False,
) -> Inbound:
    """Return an inbound message; every field has a plain default."""
    return Inbound(
        platform=platform,
        channel_id=channel,
        user_id=user,
        text=text,
        thread_id=thread,
        is_direct=is_direct,
        message_id=message_id,
        timestamp=timestamp,
        display_name=display_name,
        redelivered=redelivered,
    )


def user_message(content: str, *, author: str = "alice") -> NewMessage:
    """Return a user message to append with ``SessionManager.append``."""
    return NewMessage(role=Role.USER, author=author, content=content)


def assistant_message(content: str, *, tokens_in: int = 0, tokens_out: int = 0) -> NewMessage:
    """Return an assistant message to append with ``SessionManager.append``."""
    return NewMessage(
        role=Role.ASSISTANT,
        author="sessionbot",
        content=content,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
    )
