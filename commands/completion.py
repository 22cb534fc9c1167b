"""Suggestions while a user types an id: only ids the caller's commands would accept.

A checkpoint id is suggested from the caller's active session, a session id from
the caller's scope, the same ones ``/checkpoint restore`` and ``/session resume``
accept; another user's never appear (under the default scope every user has a
scope of their own). Reading suggestions changes nothing: no session is started
or reset for them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from commands.formatting import one_line
from core.menu import Suggest, Suggestion
from core.models import Inbound
from core.sessions.manager import SessionManager
from core.storage.protocols import SessionFilter

MAX_SUGGESTIONS = 25
"""The most suggestions offered at once (Discord shows 25)."""

LABEL_LIMIT = 100


async def suggest(
    manager: SessionManager, inbound: Inbound, kind: Suggest, typed: str
) -> list[Suggestion]:
    """Return up to :data:`MAX_SUGGESTIONS` ids of ``kind`` for the caller of ``inbound``.

    Args:
        manager: the session manager.
        inbound: who is asking, and where (its text is ignored).
        kind: checkpoint or session ids.
        typed: what the user typed so far; ids or names containing it come back.
    """
    key = await manager.key_for(inbound)
    now = manager.now()
    needle = typed.strip().casefold()
    if kind is Suggest.SESSION:
        sessions = await manager.sessions.list(SessionFilter(scope_key=key.value), limit=100)
        found = [
            Suggestion(s.id, _label(s.id, s.title or "untitled", s.last_activity_at, now))
            for s in sessions
            if _matches(needle, s.id, s.title or "")
        ]
        return found[:MAX_SUGGESTIONS]
    active = await manager.sessions.list(
        SessionFilter(scope_key=key.value, status="active"), limit=1
    )
    if not active:
        return []
    checkpoints = await manager.checkpoints.list(active[0])
    found = [
        Suggestion(c.id, _label(c.id, c.name, c.created_at, now))
        for c in reversed(checkpoints)  # newest first
        if _matches(needle, c.id, c.name)
    ]
    return found[:MAX_SUGGESTIONS]


def _matches(needle: str, *fields: str) -> bool:
    return not needle or any(needle in field.casefold() for field in fields)


def _label(item_id: str, name: str, when: datetime, now: datetime) -> str:
    return one_line(f"{item_id} · {name} · {_age(now - when)}", LABEL_LIMIT)


def _age(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"
