"""Shared pieces of the routes: dependencies, inbound messages, session details, cursors."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends

from adapters.http.access import Caller, Services, caller_of, services_of
from adapters.http.errors import ApiError
from adapters.http.models import (
    CheckpointView,
    NextResets,
    SessionDetail,
    SessionSummary,
    Usage,
)
from adapters.http.settings import PLATFORM
from core import Inbound, Session, next_resets

CallerDep = Annotated[Caller, Depends(caller_of)]
"""The request's caller; a route taking it answers 401 without a valid key."""

ServicesDep = Annotated[Services, Depends(services_of)]
"""The app's services."""

_INVALID_CURSOR = "cursor is not one this API gave out, or its message is gone"


def inbound_for(
    user_id: str,
    channel_id: str | None,
    text: str = "",
    *,
    message_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    redelivered: bool = False,
) -> Inbound:
    """Return an API message of ``user_id``: without a channel, a one-to-one chat."""
    return Inbound(
        platform=PLATFORM,
        channel_id=channel_id or user_id,
        user_id=user_id,
        text=text,
        is_direct=channel_id is None,
        message_id=message_id,
        metadata=metadata or {},
        redelivered=redelivered,
    )


def inbound_in(session: Session, text: str = "", **fields: Any) -> Inbound:
    """Return a message written into ``session`` as its owner (an API session).

    Raises:
        ApiError: 409 for a session of another platform, which the API only reads.
    """
    platform, _, user_id = session.owner.partition(":")
    if session.platform != PLATFORM or platform != PLATFORM:
        raise ApiError(
            409,
            f"session {session.id} lives on {session.platform}; the API writes only to its own",
        )
    return inbound_for(user_id, None if session.is_direct else session.channel_id, text, **fields)


async def session_detail(services: Services, session: Session) -> SessionDetail:
    """Return a session with its usage, checkpoints and next resets."""
    manager = services.manager
    checkpoints = await manager.checkpoints.list(session)
    daily = idle = None
    if manager.reset_rules is not None and session.is_active:
        policy = await manager.reset_policy(session)
        daily, idle = next_resets(session, policy, manager.now())
    return SessionDetail(
        **SessionSummary.fields_of(session),
        usage=Usage(
            tokens_in=session.tokens_in,
            tokens_out=session.tokens_out,
            total_tokens=session.tokens_in + session.tokens_out,
        ),
        checkpoints=[CheckpointView.of(c) for c in checkpoints],
        next_resets=NextResets(daily=daily, idle=idle),
    )


def utc(moment: datetime | None) -> datetime | None:
    """Return ``moment`` as aware UTC; a time without offset is taken as UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def encode_cursor(**fields: str | int) -> str:
    """Return an opaque cursor holding ``fields``."""
    text = json.dumps({"v": 1, **fields}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, *names: str) -> dict[str, Any]:
    """Return the fields of a cursor made by :func:`encode_cursor`.

    Raises:
        ApiError: 400 ``invalid_cursor`` if it is not one, or lacks a field.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        fields = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        fields = None
    if not isinstance(fields, dict) or fields.get("v") != 1 or not all(n in fields for n in names):
        raise ApiError(400, _INVALID_CURSOR, code="invalid_cursor")
    return fields


def invalid_cursor() -> ApiError:
    """Return the error of a cursor that no longer points anywhere."""
    return ApiError(400, _INVALID_CURSOR, code="invalid_cursor")
