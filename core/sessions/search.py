"""Finding past messages and sessions by their words and tags.

Who may see what is decided here, before the store is asked: a search names the
sessions it looks in (the caller's current one, or every session the caller started
under any of their linked identities), and the store never looks further. A session
of someone else is not found, exactly as one that does not exist.

The store's index finds candidates (full-text or blind); every candidate is opened
and checked against the query here, so phrases match whole consecutive words and the
paging counts only true hits ("more" is true when one more hit exists). A hit must
also be part of its session's history as ``/history`` shows it: what ``/history
clear`` or a checkpoint restore left behind (kept on another branch, for the
checkpoints that reach it) is not found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import StorageError
from core.models import Message, Session
from core.sessions.branches import BranchWalker, Segment
from core.sessions.config import SessionConfig
from core.storage.protocols import SessionFilter, Store
from core.storage.search import TextSearch
from core.words import TextQuery

_SESSION_PAGE = 500
MAX_SEARCHED_SESSIONS = 5000
"""A person's sessions searched at most (newest first); older ones are left out."""
_CANDIDATE_BATCH = 200
MAX_CANDIDATES = 5000
"""Index candidates checked at most for one page of hits (bounds a query's cost)."""


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One message found, with its session."""

    session: Session
    message: Message


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of hits, newest first, and whether another hit follows."""

    hits: tuple[SearchHit, ...]
    has_more: bool


class Search:
    """Searches the sessions a person may see.

    Args:
        store: the store (a sealing layer opens hits and hashes blind queries).
        config: the session settings (linked identities).
        walker: finds which parts of which branches each session's history is.
    """

    def __init__(self, store: Store, config: SessionConfig, walker: BranchWalker) -> None:
        self._store = store
        self._config = config
        self._walker = walker

    def identities_of(self, user_ref: str) -> tuple[str, ...]:
        """Return ``user_ref`` and every ``platform:user`` linked to the same identity."""
        name = self._config.identities.get(user_ref)
        linked = [ref for ref, other in self._config.identities.items() if name and other == name]
        return tuple(dict.fromkeys([user_ref, *sorted(linked)]))

    async def sessions_of(self, user_ref: str, *, tag: str | None = None) -> list[Session]:
        """Return the sessions ``user_ref`` (or a linked identity) started, newest first.

        Args:
            user_ref: the caller as ``platform:user_id``.
            tag: only sessions with this tag.
        """
        where = SessionFilter(owners=self.identities_of(user_ref))
        return await self.sessions_where(where, tag=tag)

    async def sessions_where(
        self, where: SessionFilter, *, tag: str | None = None
    ) -> list[Session]:
        """Return sessions matching ``where`` (at most :data:`MAX_SEARCHED_SESSIONS`).

        Tags are compared after the store opened them (they are sealed when
        encryption is on), so a tag filter reads the same sessions as none.
        """
        found: list[Session] = []
        while len(found) < MAX_SEARCHED_SESSIONS:
            page = await self._store.list_sessions(where, limit=_SESSION_PAGE, offset=len(found))
            found.extend(page)
            if len(page) < _SESSION_PAGE:
                break
        return [s for s in found if tag is None or tag in s.tags]

    async def find(
        self, query: TextQuery, sessions: Sequence[Session], *, limit: int, offset: int = 0
    ) -> SearchPage:
        """Return one page of messages of ``sessions`` matching ``query``, newest first."""
        by_id = {s.id: s for s in sessions}
        search = TextSearch(session_ids=tuple(by_id), words=query.words)
        hits: list[SearchHit] = []
        histories: dict[str, list[Segment]] = {}
        skipped = scanned = 0
        while len(hits) <= limit and scanned < MAX_CANDIDATES:
            batch = await self._store.search_messages(
                search, limit=_CANDIDATE_BATCH, offset=scanned
            )
            scanned += len(batch)
            for message in batch:
                session = by_id.get(message.session_id)
                if session is None or not query.matches(message.content):
                    continue
                if not await self._in_history(session, message, histories):
                    continue
                if skipped < offset:
                    skipped += 1
                    continue
                hits.append(SearchHit(session, message))
            if len(batch) < _CANDIDATE_BATCH:
                break
        return SearchPage(tuple(hits[:limit]), has_more=len(hits) > limit)

    async def _in_history(
        self, session: Session, message: Message, histories: dict[str, list[Segment]]
    ) -> bool:
        """Tell whether ``message`` is part of the history ``/history`` shows."""
        segments = histories.get(session.id)
        if segments is None:
            try:
                segments = await self._walker.head_segments(session)
            except StorageError:
                segments = []  # its head branch is gone: nothing of it is shown
            histories[session.id] = segments
        return any(
            message.branch_id == segment.branch_id and segment.lo <= message.seq <= segment.hi
            for segment in segments
        )
