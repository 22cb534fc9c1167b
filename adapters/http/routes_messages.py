"""Message routes: send a message through the router, and page through a history.

Pages are newest first. ``before`` (a time) pages back the way the seed's client
does, ``before`` = the ``createdAt`` of the oldest message received so far: times
strictly increase along a history, so each message comes exactly once. The opaque
``nextCursor`` does the same by message id.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from adapters.http.errors import ERROR_RESPONSES, ApiError
from adapters.http.idempotency import Answered, Attempt, IdempotencyKey, once
from adapters.http.models import MessagesPage, PostedMessage, PostMessage, SimplifiedMessage
from adapters.http.views import (
    CallerDep,
    ServicesDep,
    decode_cursor,
    encode_cursor,
    inbound_in,
    invalid_cursor,
    utc,
)
from core import HistoryPage, Message, NotFoundError, Role, Session

router = APIRouter(prefix="/api/sessions", tags=["messages"], responses=ERROR_RESPONSES)

_FIND_DEPTH = 2000
"""How far back from the newest message a sent message is looked for: further than
any burst of other messages in one session while it was answered."""


@router.post("/{session_id}/messages", response_model=PostedMessage)
async def post_message(
    session_id: str,
    body: PostMessage,
    caller: CallerDep,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Send a message as the session's user; the agent's answer comes back.

    It goes through the router like any platform's message: commands (``/help``,
    ``/checkpoint save``…), resets, rate limits and the responder all apply. A reset
    due moves it to a new session: ``sessionId`` says where it landed. An admin key
    writes as the session's owner. With an ``Idempotency-Key``, a retry (on any
    worker) gets the first answer and stores nothing again.
    """

    async def run(attempt: Attempt) -> Answered:
        posted = await _post(session_id, body, caller, services, attempt)
        return Answered(200, posted, posted.session_id)

    request = f"POST messages\n{session_id}\n{body.model_dump_json()}"
    return await once(services, caller, idempotency_key, request, run)


async def _post(
    session_id: str,
    body: PostMessage,
    caller: CallerDep,
    services: ServicesDep,
    attempt: Attempt,
) -> PostedMessage:
    session = await services.session_for(caller, session_id)
    if not session.is_active:
        raise ApiError(409, f"session {session.id} is archived; only an active one takes messages")
    # The router stores the platform's message id with the message: how it is found.
    marker = attempt.message_id or f"api-{secrets.token_urlsafe(12)}"
    inbound = inbound_in(
        session,
        body.content,
        message_id=marker,
        metadata=body.metadata,
        redelivered=attempt.redelivered,
    )
    replies = await services.context.handler(inbound)
    texts = [reply.text for reply in replies]
    manager = services.manager
    landed = await manager.store.get_active_session((await manager.key_for(inbound)).value)
    command = inbound.text.lstrip().startswith("/")  # stores nothing: not looked for
    stored = None
    if landed is not None and not command:
        stored = await _find_sent(services, landed, inbound.message_id)
    if stored is None and not command:
        _refused(texts)
    return PostedMessage(
        session_id=(landed or session).id,
        message=SimplifiedMessage.of(stored[0]) if stored else None,
        reply=SimplifiedMessage.of(stored[1]) if stored and stored[1] else None,
        replies=texts,
    )


def _refused(texts: list[str]) -> None:
    """Raise what a plain message the router did not store gets."""
    if not texts:
        raise ApiError(429, "too many messages; try again shortly")
    raise ApiError(422, texts[0], code="not_stored")


async def _find_sent(
    services: ServicesDep, session: Session, message_id: str | None
) -> tuple[Message, Message | None] | None:
    """Return the stored message marked ``message_id`` and the answer right after it."""
    newer: Message | None = None
    seen = 0
    async for chunk in services.manager.history.newest_pages(session, 50):
        for message in chunk:
            if message.metadata.get("platform_message_id") == message_id:
                answer = newer if newer is not None and newer.role is Role.ASSISTANT else None
                return message, answer
            newer = message
        seen += len(chunk)
        if seen >= _FIND_DEPTH:
            break
    return None


@router.get("/{session_id}/messages", response_model=MessagesPage)
async def list_messages(
    session_id: str,
    caller: CallerDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[datetime | None, Query(description="Only messages older than this.")] = None,
    after: Annotated[datetime | None, Query(description="Only messages newer than this.")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> MessagesPage:
    """Return a page of the visible history, newest first.

    ``hasMore`` is true only when another page exists. Follow ``nextCursor``, or
    pass ``before`` = the ``createdAt`` of the last message received: both return
    every message exactly once. ``after`` alone pages forward from a time.
    """
    session = await services.session_for(caller, session_id)
    history = services.manager.history
    forward = after is not None and before is None
    if cursor is not None:
        if before is not None or after is not None:
            raise ApiError(400, "give either cursor or before/after, not both")
        fields = decode_cursor(cursor, "dir", "id")
        forward = fields["dir"] == "after"
        page = await _by_cursor(services, session, limit, forward, str(fields["id"]))
    else:  # neither: the newest page (read, not remembered: hasMore must be exact)
        page = await history.page_by_time(
            session, limit=limit, before=utc(before), after=utc(after)
        )
    return _newest_first(page, forward)


async def _by_cursor(
    services: ServicesDep, session: Session, limit: int, forward: bool, message_id: str
) -> HistoryPage:
    bound: dict[str, Any] = {"after" if forward else "before": message_id}
    try:
        return await services.manager.history.page(session, limit=limit, **bound)
    except NotFoundError:
        raise invalid_cursor() from None


def _newest_first(page: HistoryPage, forward: bool) -> MessagesPage:
    messages = page.messages
    next_cursor = None
    if page.has_more and messages:
        edge = messages[-1] if forward else messages[0]
        next_cursor = encode_cursor(dir="after" if forward else "before", id=edge.id)
    return MessagesPage(
        messages=[SimplifiedMessage.of(m) for m in reversed(messages)],
        has_more=page.has_more,
        next_cursor=next_cursor,
    )
