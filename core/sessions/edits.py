"""Changing a session's title, tags or metadata from what it holds now, on any worker.

A change computed from a session read a moment ago (add a tag, set a metadata key,
append a pin) would undo what another worker wrote in between if it simply wrote
the result back. :func:`edit_session` reads the session, lets the caller compute
the change from it, and writes only if nothing changed the session meanwhile
(compare-and-set on ``updated_at``); otherwise it waits a short random while, so
that writers racing for one session do not keep colliding, and reads again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.backoff import Backoff
from core.clock import Clock
from core.errors import ConflictError, NotFoundError
from core.models import Session
from core.storage.protocols import Store

EDIT_ATTEMPTS = 20
"""Reads and writes tried before giving up (each lost only to another writer's change)."""

RETRY_PAUSES = Backoff(initial=0.002, factor=2.0, maximum=0.1)
"""The longest random pause after each lost attempt: 2 ms, 4 ms, … up to 100 ms."""


@dataclass(frozen=True, slots=True)
class SessionEdit:
    """What to change; ``None`` leaves a field as it is."""

    title: str | None = None
    tags: Sequence[str] | None = None
    metadata: Mapping[str, Any] | None = None


async def edit_session(
    store: Store, clock: Clock, session_id: str, edit: Callable[[Session], SessionEdit]
) -> Session:
    """Apply ``edit`` to the session as stored now; return the session changed.

    Args:
        store: where the session is (read through to the database every attempt).
        clock: the time of the change.
        session_id: the session.
        edit: computes the change from the session as read; it may raise (a usage
            error, say), and then nothing is written.

    Raises:
        NotFoundError: the session does not exist (or was deleted meanwhile).
        ConflictError: other writers changed it on every attempt.
    """
    for attempt in range(EDIT_ATTEMPTS):
        if attempt:
            await asyncio.sleep(random.uniform(0, RETRY_PAUSES.delay(attempt)))
        current = await store.get_session(session_id)
        if current is None:
            raise NotFoundError(f"No session {session_id!r}.")
        change = edit(current)
        updated = await store.update_session(
            session_id,
            clock.now(),
            title=change.title,
            tags=change.tags,
            metadata=change.metadata,
            expect_updated_at=current.updated_at,
        )
        if updated is not None:
            return updated
    raise ConflictError(f"session {session_id} kept changing; nothing was written")
