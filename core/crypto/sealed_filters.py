"""Filtering sessions by title or tag when those are sealed: the database cannot compare them."""

from __future__ import annotations

import dataclasses

from core.models import Session
from core.storage.protocols import SessionFilter, Store

_PAGE = 500


async def sessions_matching(store: Store, where: SessionFilter) -> list[Session]:
    """Return every session matching ``where``, its title and tag filters applied here.

    ``store`` opens titles and tags (the sealing layer); every session matching the
    other filters is read once, a page at a time, so the cost grows with them.
    """
    plain = dataclasses.replace(where, title_contains=None, tag_contains=None)
    found: list[Session] = []
    offset = 0
    while True:
        page = await store.list_sessions(plain, limit=_PAGE, offset=offset)
        found += [s for s in page if where.title_matches(s.title) and where.tags_match(s.tags)]
        if len(page) < _PAGE:
            return found
        offset += _PAGE
