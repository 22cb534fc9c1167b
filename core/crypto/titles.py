"""Filtering sessions by title when titles are sealed: the database cannot compare them."""

from __future__ import annotations

import dataclasses

from core.models import Session
from core.storage.protocols import SessionFilter, Store

_PAGE = 500


async def sessions_titled(store: Store, where: SessionFilter) -> list[Session]:
    """Return every session matching ``where``, its title filter applied here.

    ``store`` opens titles (the sealing layer); every session matching the other
    filters is read once, a page at a time, so the cost grows with them.
    """
    plain = dataclasses.replace(where, title_contains=None)
    found: list[Session] = []
    offset = 0
    while True:
        page = await store.list_sessions(plain, limit=_PAGE, offset=offset)
        found += [session for session in page if where.title_matches(session.title)]
        if len(page) < _PAGE:
            return found
        offset += _PAGE
