"""``GET /api/sessions/search``: messages by words, sessions by tag, within what a key sees.

Registered before the session routes, so ``search`` is never read as a session id.
A user key searches its own sessions (and those of its linked identities); an admin
key every session. A session the key may not see is never a hit, whatever it holds.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from adapters.http.errors import ERROR_RESPONSES, ApiError
from adapters.http.models import SearchHitView, SearchResults, SessionSummary, Text
from adapters.http.views import CallerDep, ServicesDep, decode_cursor, encode_cursor
from core import SessionFilter, TextQuery

router = APIRouter(prefix="/api/sessions", tags=["search"], responses=ERROR_RESPONSES)

SNIPPET_WIDTH = 160
MARK = ("**", "**")


@router.get("/search", response_model=SearchResults)
async def search(
    caller: CallerDep,
    services: ServicesDep,
    q: Annotated[
        Text | None,
        Query(max_length=500, description='Words that must all occur; "quoted phrases" too.'),
    ] = None,
    tag: Annotated[
        str | None, Query(max_length=64, description="Only sessions with this tag.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> SearchResults:
    """Find messages holding every word of ``q`` (newest first), or sessions by ``tag``.

    With ``q``, each hit is a message with its session and a snippet (matches marked
    ``**so**``); with only ``tag``, the sessions carrying it. Without either: 422.
    """
    if q is None and tag is None:
        raise ApiError(422, "give q (words to find) or tag, or both")
    offset = 0 if cursor is None else decode_cursor(cursor, "offset")["offset"]
    if not isinstance(offset, int) or offset < 0:
        raise ApiError(400, "cursor is not one this API gave out", code="invalid_cursor")
    finder = services.manager.search
    sessions = await finder.sessions_where(SessionFilter(owners=caller.owners), tag=tag)
    if q is None:
        page = sessions[offset : offset + limit]
        more = len(sessions) > offset + limit
        return SearchResults(
            hits=[],
            sessions=[SessionSummary.of(s) for s in page],
            has_more=more,
            next_cursor=encode_cursor(offset=offset + limit) if more else None,
        )
    try:
        query = TextQuery.parse(q)
    except ValueError as error:
        raise ApiError(422, f"q: {error}") from None
    found = await finder.find(query, sessions, limit=limit, offset=offset)
    return SearchResults(
        hits=[
            SearchHitView.of(
                hit.session, hit.message, query.marked(hit.message.content, SNIPPET_WIDTH, MARK)
            )
            for hit in found.hits
        ],
        sessions=[],
        has_more=found.has_more,
        next_cursor=encode_cursor(offset=offset + limit) if found.has_more else None,
    )
