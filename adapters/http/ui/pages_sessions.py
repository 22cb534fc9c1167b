"""Console pages of sessions: the list, one session, and what changes one.

Each page reads and each form changes through the same core operations as the API
(``manager.sessions``, ``manager.history``, ``manager.checkpoints``); a form post
is checked against the session's CSRF token before anything happens.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError

from adapters.http.access import Services, services_of
from adapters.http.errors import ApiError
from adapters.http.models import ChangeSession
from adapters.http.ui.auth import Login, check_csrf, signed_in
from adapters.http.ui.render import PageError, form_of, page, redirect, secured, ui_base
from adapters.http.views import decode_cursor, encode_cursor, inbound_in
from core import (
    MAX_TAGS,
    ExportFormat,
    NotFoundError,
    Session,
    SessionbotError,
    SessionFilter,
    SessionOrder,
    next_resets,
    stream_export,
    tag_of,
)

router = APIRouter()

LoginDep = Annotated[Login, Depends(signed_in)]
ServicesDep = Annotated[Services, Depends(services_of)]

SESSIONS_PER_PAGE = 50
MESSAGES_PER_PAGE = 50

_DONE = {
    "restored": "Checkpoint restored; the state left was saved as an automatic checkpoint.",
    "saved": "Title and tags saved.",
    "branched": "Branched: this is the new session.",
    "deleted": "Session deleted.",
}


@router.get("/sessions")
async def sessions(
    request: Request,
    login: LoginDep,
    services: ServicesDep,
    platform: Annotated[str, Query(max_length=64)] = "",
    channel: Annotated[str, Query(max_length=256)] = "",
    user: Annotated[str, Query(max_length=320)] = "",
    status: Literal["", "active", "archived"] = "",
    title: Annotated[str, Query(max_length=200)] = "",
    tag: Annotated[str, Query(max_length=64)] = "",
    cursor: Annotated[str, Query(max_length=200)] = "",
    done: str = "",
) -> Response:
    """The sessions, most recently active first, filtered, a page at a time.

    Keyset paging on ``(last_activity_at, id)``, never an offset. A session used
    while the operator pages moves to the top, so it may be shown again.
    """
    filters = {"platform": platform, "channel": channel, "user": user, "status": status}
    filters |= {"title": title, "tag": tag}
    values: dict[str, Any] = {"filters": filters, "csrf": login.csrf, "notice": _DONE.get(done)}
    if channel and not platform:
        return page(
            request,
            "sessions.html",
            400,
            **values,
            error="A channel filter needs a platform too.",
            sessions=[],
            total=0,
            next_url=None,
        )
    where = SessionFilter(
        platform=platform or None,
        channel_id=channel or None,
        status=status or None,
        owners=(user,) if user else None,
        title_contains=title or None,
        # Tags are stored case-folded without a leading "#": look for them alike.
        tag_contains=tag.strip().removeprefix("#").casefold() or None,
        order=SessionOrder.ACTIVITY,
    )
    store = services.manager.store
    paged = dataclasses.replace(where, after=_after_of(cursor))
    found = await store.list_sessions(paged, limit=SESSIONS_PER_PAGE + 1)
    next_url = None
    if len(found) > SESSIONS_PER_PAGE:
        last = found[SESSIONS_PER_PAGE - 1]
        query = {k: v for k, v in filters.items() if v}
        query["cursor"] = encode_cursor(at=last.last_activity_at.isoformat(), id=last.id)
        next_url = f"{ui_base(request)}/sessions?{urlencode(query)}"
    shown = found[:SESSIONS_PER_PAGE]
    manager = services.manager
    return page(
        request,
        "sessions.html",
        **values,
        error=None,
        sessions=shown,
        zones={s.id: (await manager.reset_policy(s)).timezone for s in shown},
        total=await store.count_sessions(where),
        next_url=next_url,
    )


def _after_of(cursor: str) -> tuple[datetime, str] | None:
    """Return the keyset position a page link carries (``None``: the first page)."""
    if not cursor:
        return None
    try:
        fields = decode_cursor(cursor, "at", "id")
        return datetime.fromisoformat(str(fields["at"])), str(fields["id"])
    except (ApiError, ValueError):
        raise PageError(400, "That page link is not one this console gave out.") from None


@router.get("/sessions/{session_id}")
async def session_page(
    request: Request,
    session_id: str,
    login: LoginDep,
    services: ServicesDep,
    before: Annotated[str, Query(max_length=100)] = "",
    done: str = "",
) -> Response:
    """One session: facts, history newest first, checkpoints, exports, edits."""
    session = await _session(services, session_id)
    return await _render(request, services, login, session, before, notice=_DONE.get(done))


async def _render(
    request: Request,
    services: Services,
    login: Login,
    session: Session,
    before: str = "",
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    manager = services.manager
    try:
        history = await manager.history.page(
            session, limit=MESSAGES_PER_PAGE, before=before or None
        )
    except NotFoundError:
        raise PageError(404, "That page of the history is gone.") from None
    daily = idle = None
    policy = await manager.reset_policy(session)  # its zone: the channel's, else the bot's
    if manager.reset_rules is not None and session.is_active:
        daily, idle = next_resets(session, policy, manager.now())
    base = f"{ui_base(request)}/sessions/{session.id}"
    older = history.messages[0].id if history.has_more and history.messages else None
    return page(
        request,
        "session.html",
        status,
        s=session,
        csrf=login.csrf,
        notice=notice,
        error=error,
        messages=list(reversed(history.messages)),
        older_url=f"{base}?{urlencode({'before': older})}" if older else None,
        newer_url=base if before else None,
        checkpoints=await manager.checkpoints.list(session),
        next_daily=daily,
        next_idle=idle,
        zone=policy.timezone,
        encrypted=manager.encrypted,
    )


@router.get("/sessions/{session_id}/export")
async def export(
    session_id: str,
    login: LoginDep,
    services: ServicesDep,
    format: Literal["markdown", "json", "text"] = "markdown",
) -> Response:
    """Download the session's visible history in a format (as the API's export)."""
    session = await _session(services, session_id)
    manager = services.manager
    checkpoints = await manager.checkpoints.list(session)
    fmt = ExportFormat(format)
    pieces = stream_export(session, manager.history.chunks(session), checkpoints, fmt)
    name = f"session-{session.id}.{fmt.extension}"
    return secured(
        StreamingResponse(
            (piece.encode("utf-8") async for piece in pieces),
            media_type=fmt.mime_type,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    )


@router.post("/sessions/{session_id}/edit")
async def edit(
    request: Request, session_id: str, login: LoginDep, services: ServicesDep
) -> Response:
    """Change the title and tags (the API's limits, the chat commands' tag rules)."""
    form = await _checked_form(request, login)
    session = await _session(services, session_id)
    try:
        typed = form.get("tags", "").split(",")
        tags = list(dict.fromkeys(tag_of(t) for t in typed if t.strip()))
        if len(tags) > MAX_TAGS:
            raise ValueError(f"at most {MAX_TAGS} tags")
        change = ChangeSession.model_validate({"title": form.get("title", ""), "tags": tags})
    except ValidationError as invalid:
        first = invalid.errors()[0]
        return await _refused(request, services, login, session, f"title: {first['msg']}")
    except ValueError as invalid:
        return await _refused(request, services, login, session, str(invalid))
    await services.manager.sessions.update(session, title=change.title or None, tags=change.tags)
    return redirect(f"{ui_base(request)}/sessions/{session.id}?done=saved")


@router.post("/sessions/{session_id}/checkpoints/{checkpoint_id}/restore")
async def restore(
    request: Request, session_id: str, checkpoint_id: str, login: LoginDep, services: ServicesDep
) -> Response:
    """Go back to a checkpoint (undoable: the state left is saved first)."""
    await _checked_form(request, login)
    session = await _session(services, session_id)
    try:
        await services.manager.checkpoints.restore(
            session, checkpoint_id, by=f"api:{login.user_id}"
        )
    except SessionbotError as refused:
        return await _refused(request, services, login, session, str(refused))
    return redirect(f"{ui_base(request)}/sessions/{session.id}?done=restored")


@router.post("/sessions/{session_id}/checkpoints/{checkpoint_id}/branch")
async def branch(
    request: Request, session_id: str, checkpoint_id: str, login: LoginDep, services: ServicesDep
) -> Response:
    """Start a new session from a checkpoint (sessions of the API, as the API allows)."""
    await _checked_form(request, login)
    session = await _session(services, session_id)
    try:
        branched = await services.manager.checkpoints.branch(
            inbound_in(session), session, checkpoint_id
        )
    except ApiError as refused:
        return await _refused(request, services, login, session, refused.message)
    except SessionbotError as refused:
        return await _refused(request, services, login, session, str(refused))
    return redirect(f"{ui_base(request)}/sessions/{branched.id}?done=branched")


@router.get("/sessions/{session_id}/delete")
async def confirm_delete(
    request: Request, session_id: str, login: LoginDep, services: ServicesDep
) -> Response:
    """Ask before deleting, naming what would be lost."""
    session = await _session(services, session_id)
    count = len(await services.manager.checkpoints.list(session))
    return page(request, "delete.html", s=session, checkpoints=count, csrf=login.csrf, notice=None)


@router.post("/sessions/{session_id}/delete")
async def delete(
    request: Request, session_id: str, login: LoginDep, services: ServicesDep
) -> Response:
    """Delete the session with its messages and checkpoints."""
    await _checked_form(request, login)
    session = await _session(services, session_id)
    await services.manager.sessions.delete(session.id)
    return redirect(f"{ui_base(request)}/sessions?done=deleted")


async def _checked_form(request: Request, login: Login) -> dict[str, str]:
    form = await form_of(request)
    check_csrf(login, form.get("csrf", ""))
    return form


async def _session(services: Services, session_id: str) -> Session:
    session = await services.manager.store.get_session(session_id)
    if session is None:
        raise PageError(404, f"There is no session {session_id!r}.")
    return session


async def _refused(
    request: Request, services: Services, login: Login, session: Session, why: str
) -> Response:
    return await _render(request, services, login, session, error=why, status=400)
