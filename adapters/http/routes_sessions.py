"""Session routes: create or find, read, list, change, delete, export, import, health."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import StreamingResponse

from adapters.http.access import require_admin
from adapters.http.errors import ERROR_RESPONSES, ApiError
from adapters.http.idempotency import Answered, Attempt, IdempotencyKey, once
from adapters.http.models import (
    ChangeSession,
    CreateSession,
    Health,
    SessionDetail,
    SessionsPage,
    SessionSummary,
    Text,
    UserId,
)
from adapters.http.settings import PLATFORM
from adapters.http.views import (
    CallerDep,
    ServicesDep,
    decode_cursor,
    encode_cursor,
    inbound_for,
    session_detail,
)
from core import ExportFormat, SessionEdit, SessionFilter, parse_export, stream_export

router = APIRouter(prefix="/api/sessions", tags=["sessions"], responses=ERROR_RESPONSES)


@router.get("/health", response_model=Health)
async def sessions_health(services: ServicesDep) -> Health:
    """Say the API is up, with the number of active sessions (no key needed)."""
    manager = services.manager
    active = await manager.store.count_sessions(SessionFilter(status="active"))
    return Health(status="ok", active_sessions=active, timestamp=manager.now())


@router.post("", response_model=SessionDetail, responses={201: {"model": SessionDetail}})
async def create_session(
    body: CreateSession,
    caller: CallerDep,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Return the active session of a user (and channel): 200, or 201 if it was started now.

    A user key may only name its own user; an admin key any. Resets due are applied
    first, as for a message. With an ``Idempotency-Key``, a retry (on any worker)
    gets the first answer, 201 included, and changes nothing.
    """

    async def run(attempt: Attempt) -> Answered:
        # Creating is the same every time: a taken-over request simply runs again.
        return await _create(body, caller, services)

    request = f"POST sessions\n{body.model_dump_json()}"
    return await once(services, caller, idempotency_key, request, run)


async def _create(body: CreateSession, caller: CallerDep, services: ServicesDep) -> Answered:
    status = 200
    if not caller.key.admin and body.user_id != caller.key.user_id:
        raise ApiError(403, f"this key acts as user {caller.key.user_id!r} only")
    manager = services.manager
    inbound = inbound_for(body.user_id, body.channel_id)
    before = await manager.store.get_active_session((await manager.key_for(inbound)).value)
    session = (await manager.resolve(inbound)).session
    if before is None or before.id != session.id:
        status = 201
    if not caller.sees(session):
        raise ApiError(409, "this channel's shared session belongs to another user")
    if body.metadata is not None:
        given = body.metadata
        session = await manager.sessions.edit(
            session, lambda current: SessionEdit(metadata={**current.metadata, **given})
        )
    return Answered(status, await session_detail(services, session), session.id)


@router.get("", response_model=SessionsPage)
async def list_sessions(
    caller: CallerDep,
    services: ServicesDep,
    status: Literal["active", "archived"] | None = None,
    user_id: Annotated[UserId | None, Query(alias="userId")] = None,
    platform: Annotated[str | None, Query(max_length=64)] = None,
    channel_id: Annotated[str | None, Query(alias="channelId", max_length=256)] = None,
    title: Annotated[
        Text | None,
        Query(max_length=200, description="Only titles holding this (ASCII case ignored)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> SessionsPage:
    """List sessions, newest first: every session for an admin key, its own for a user key."""
    owners = caller.owners
    if user_id is not None:
        wanted = services.owners_of(user_id)
        owners = wanted if owners is None else tuple(o for o in owners if o in wanted)
    if channel_id is not None and platform is None:
        raise ApiError(422, "channelId: needs platform too")
    where = SessionFilter(
        platform=platform,
        channel_id=channel_id,
        status=status,
        owners=owners,
        title_contains=title,
    )
    offset = 0 if cursor is None else decode_cursor(cursor, "offset")["offset"]
    if not isinstance(offset, int) or offset < 0:
        raise ApiError(400, "cursor is not one this API gave out", code="invalid_cursor")
    store = services.manager.store
    found = await store.list_sessions(where, limit=limit + 1, offset=offset)
    more = len(found) > limit
    return SessionsPage(
        sessions=[SessionSummary.of(s) for s in found[:limit]],
        total=await store.count_sessions(where),
        has_more=more,
        next_cursor=encode_cursor(offset=offset + limit) if more else None,
    )


@router.post("/import", response_model=SessionSummary, status_code=201)
async def import_session(
    caller: CallerDep,
    services: ServicesDep,
    document: Annotated[dict[str, Any], Body(description="A JSON export of a session.")],
    user_id: Annotated[UserId, Query(alias="userId")],
    channel_id: Annotated[str | None, Query(alias="channelId", max_length=256)] = None,
) -> SessionSummary:
    """Store a JSON export as a new archived session of a user (admin key)."""
    require_admin(caller)
    imported = parse_export(json.dumps(document, ensure_ascii=False))
    manager = services.manager
    key = await manager.key_for(inbound_for(user_id, channel_id))
    session = await manager.maintenance.import_export(
        imported,
        scope_key=key.value,
        owner=f"{PLATFORM}:{user_id}",
        platform=PLATFORM,
        channel_id=channel_id or user_id,
    )
    return SessionSummary.of(session)


@router.get("/{session_id}", response_model=SessionDetail)
async def get_session(session_id: str, caller: CallerDep, services: ServicesDep) -> SessionDetail:
    """Return a session with its usage, checkpoints and next resets."""
    session = await services.session_for(caller, session_id)
    return await session_detail(services, session)


@router.patch("/{session_id}", response_model=SessionDetail)
async def change_session(
    session_id: str, body: ChangeSession, caller: CallerDep, services: ServicesDep
) -> SessionDetail:
    """Change the title, tags or metadata; fields left out stay as they are."""
    session = await services.session_for(caller, session_id)
    session = await services.manager.sessions.update(
        session, title=body.title, tags=body.tags, metadata=body.metadata
    )
    return await session_detail(services, session)


@router.delete("/{session_id}", status_code=204, response_class=Response)
async def delete_session(session_id: str, caller: CallerDep, services: ServicesDep) -> Response:
    """Delete a session with its messages and checkpoints; encrypted, its key too."""
    session = await services.session_for(caller, session_id)
    await services.manager.sessions.delete(session.id)
    return Response(status_code=204)


@router.get(
    "/{session_id}/export",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}, "application/json": {}, "text/plain": {}}}},
)
async def export_session(
    session_id: str,
    caller: CallerDep,
    services: ServicesDep,
    format: Literal["markdown", "json", "text"] = "markdown",
) -> Response:
    """Export the visible history, streamed; a JSON export can be imported again."""
    session = await services.session_for(caller, session_id)
    manager = services.manager
    checkpoints = await manager.checkpoints.list(session)
    fmt = ExportFormat(format)
    pieces = stream_export(session, manager.history.chunks(session), checkpoints, fmt)
    name = f"session-{session.id}.{fmt.extension}"
    return StreamingResponse(
        (piece.encode("utf-8") async for piece in pieces),
        media_type=fmt.mime_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
