"""Copies of stored records with their user text replaced (sealed or opened)."""

from __future__ import annotations

import dataclasses
from typing import Any

from core.models import Checkpoint, Message, Session


def replace_session(
    session: Session, *, title: str | None, tags: tuple[str, ...], metadata: dict[str, Any]
) -> Session:
    """Return ``session`` with these title, tags and metadata."""
    return dataclasses.replace(session, title=title, tags=tags, metadata=metadata)


def replace_message(message: Message, *, content: str, metadata: dict[str, Any]) -> Message:
    """Return ``message`` with this content and metadata."""
    # Built directly: dataclasses.replace costs several times more, on every message
    # read or written.
    return Message(
        id=message.id,
        session_id=message.session_id,
        branch_id=message.branch_id,
        seq=message.seq,
        role=message.role,
        author=message.author,
        content=content,
        created_at=message.created_at,
        metadata=metadata,
        tokens_in=message.tokens_in,
        tokens_out=message.tokens_out,
    )


def replace_checkpoint(checkpoint: Checkpoint, *, name: str, description: str) -> Checkpoint:
    """Return ``checkpoint`` with this name and description."""
    return dataclasses.replace(checkpoint, name=name, description=description)
