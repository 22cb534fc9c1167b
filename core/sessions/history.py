"""A session's history: appending to it, and reading it by page or whole."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Protocol

from core.clock import Clock
from core.errors import StorageError
from core.ids import new_ordered_ids
from core.models import HistoryPage, Message, NewMessage, Session
from core.sessions.branches import BranchWalker, Segment
from core.sessions.config import MESSAGE_ID_RANDOM_LENGTH
from core.storage.caching import CachingStore


class SessionReader(Protocol):
    """Reads a session by id (:meth:`core.sessions.lifecycle.Lifecycle.get`)."""

    async def get(self, session_id: str) -> Session:
        """Return the session; raise :class:`NotFoundError` if there is none."""
        ...


def new_message_ids(clock: Clock, count: int) -> list[str]:
    """Return ``count`` message ids that sort by the clock's time (see :mod:`core.ids`)."""
    millis = int(clock.now().timestamp() * 1000)
    return new_ordered_ids(count, MESSAGE_ID_RANDOM_LENGTH, millis=millis)


class History:
    """Appends messages to sessions and reads their visible history.

    Args:
        store: the caching store.
        clock: source of the current time (message times and ids).
        walker: reads the branch chain.
        sessions: reads a session again when its head moved under an append.
    """

    def __init__(
        self, store: CachingStore, clock: Clock, walker: BranchWalker, sessions: SessionReader
    ) -> None:
        self._store = store
        self._clock = clock
        self._walker = walker
        self._sessions = sessions

    async def append(
        self, session: Session, *messages: NewMessage, only_if_current: bool = False
    ) -> list[Message]:
        """Append messages to the session's head branch; see :meth:`record`."""
        _, stored = await self.record(session, *messages, only_if_current=only_if_current)
        return stored

    async def record(
        self, session: Session, *messages: NewMessage, only_if_current: bool = False
    ) -> tuple[Session, list[Message]]:
        """Append messages to the session's head branch; one transaction.

        Args:
            session: the session, as the caller last saw it.
            *messages: what to append.
            only_if_current: append only if the session is still active on the head
                branch ``session`` names (a user's message: it must not land in a
                session that ended or moved on meanwhile).

        Returns:
            The session as it is after the append (read again only if its head
            moved meanwhile), and the stored messages.

        Raises:
            StorageError: the session no longer exists.
            StaleSessionError: ``only_if_current`` and the session was archived or
                its head moved; nothing was written.
        """
        ids = new_message_ids(self._clock, len(messages))
        expect_head = session.head_branch_id if only_if_current else None
        stored = await self._store.append_messages(
            session.id, messages, ids, self._clock.now(), expect_head=expect_head
        )
        if not stored and messages:
            raise StorageError(f"session {session.id} does not exist")
        return await self.refreshed(session, stored), stored

    async def refreshed(self, session: Session, appended: list[Message]) -> Session:
        """Return ``session`` as it is after :meth:`record` stored ``appended``.

        See :meth:`core.models.Session.advanced_by`; read again only if the head
        changed meanwhile (a concurrent restore or clear).
        """
        after = session.advanced_by(appended)
        return after if after is not None else await self._sessions.get(session.id)

    async def newest_pages(
        self, session: Session, page: int | Callable[[], int]
    ) -> AsyncIterator[list[Message]]:
        """Yield the session's visible history newest first, ``page`` messages at a time.

        ``page`` may be a function, asked before each read how many messages to read.

        The head branch is read first, without looking it up: its seqs run without a
        gap from its fork point to ``message_count``, so a full page from it is all
        visible history. Only a short page sends the walk up the branch chain. Costs
        follow what is read, never the history's length.
        """
        size = page if callable(page) else lambda: page
        end = session.message_count
        while end > 0:
            limit = size()
            found = await self._store.read_messages(
                session.head_branch_id, max_seq=end, limit=limit, newest_first=True
            )
            if found:
                yield found
                end = found[-1].seq - 1
            if len(found) < limit:
                break
        if end <= 0:
            return
        # The rest lies before the head's fork point, in its ancestors.
        for segment in await self._walker.head_segments(session, upto=end):
            if segment.branch_id == session.head_branch_id:
                continue
            high = segment.hi
            while high >= segment.lo:
                found = await self._store.read_messages(
                    segment.branch_id,
                    min_seq=segment.lo,
                    max_seq=high,
                    limit=size(),
                    newest_first=True,
                )
                if not found:
                    break
                yield found
                high = found[-1].seq - 1

    async def message(self, session: Session, message_id: str) -> Message:
        """Return the message ``message_id`` of the session's visible history.

        Raises:
            NotFoundError: it is not part of it (another session's, or cut off by a
                restore).
        """
        segments = await self._walker.head_segments(session)
        return await self._walker.visible(segments, message_id)

    async def between(self, session: Session, lo: int, hi: int, *, limit: int) -> list[Message]:
        """Return up to ``limit`` messages with ``lo <= seq <= hi``, oldest first."""
        if hi < lo:
            return []
        segments = await self._walker.head_segments(session, upto=hi)
        return await self._walker.read(segments, lo, hi, limit, newest_first=False)

    async def page(
        self,
        session: Session,
        *,
        limit: int = 20,
        before: str | None = None,
        after: str | None = None,
    ) -> HistoryPage:
        """Return a page of the session's visible history, oldest first.

        Args:
            session: the session.
            limit: at most this many messages.
            before: only messages older than this message id (the page ends just
                before it); ``has_more`` then says whether older ones exist.
            after: only messages newer than this message id (the page starts just
                after it); ``has_more`` then says whether newer ones exist.

        Raises:
            NotFoundError: a cursor is not a message of this history.
        """
        if before is None and after is None:
            # A conversation in progress: its newest messages are in memory.
            remembered = self._store.remembered_newest(session, limit)
            if remembered is not None:
                return HistoryPage(tuple(remembered), has_more=True)
        segments = await self._walker.head_segments(session)
        if after is not None:
            start = (await self._walker.visible(segments, after)).seq + 1
            found = await self._walker.read(
                segments, start, session.message_count, limit + 1, False
            )
            return HistoryPage(tuple(found[:limit]), has_more=len(found) > limit)
        end = session.message_count
        if before is not None:
            end = (await self._walker.visible(segments, before)).seq - 1
        found = await self._walker.read(segments, 1, end, limit + 1, True)
        page = found[:limit]
        page.reverse()
        return HistoryPage(tuple(page), has_more=len(found) > limit)

    async def page_by_time(
        self,
        session: Session,
        *,
        limit: int = 20,
        before: datetime | None = None,
        after: datetime | None = None,
    ) -> HistoryPage:
        """Return a page of the session's visible history by time, oldest first.

        Message times strictly increase along a history (see
        :mod:`core.storage.message_times`), so ``before`` = the time of the oldest
        message received so far pages back through the history, each message once.
        The bounds are found by bisection on seq: a few one-row reads, whatever the
        history's length.

        Args:
            session: the session.
            limit: at most this many messages.
            before: only messages strictly older than this; with it, the page holds
                the newest such messages and ``has_more`` says whether older exist.
            after: only messages strictly newer than this; without ``before``, the
                page holds the oldest such messages and ``has_more`` says whether
                newer ones exist.
        """
        segments = await self._walker.head_segments(session)
        count = session.message_count
        start = 1 if after is None else await self._first_after(segments, count, after)
        end = (
            count if before is None else await self._first_after(segments, count, before, True) - 1
        )
        if before is None and after is not None:
            found = await self._walker.read(segments, start, end, limit + 1, False)
            return HistoryPage(tuple(found[:limit]), has_more=len(found) > limit)
        found = await self._walker.read(segments, start, end, limit + 1, True)
        page = found[:limit]
        page.reverse()
        return HistoryPage(tuple(page), has_more=len(found) > limit)

    async def _first_after(
        self, segments: list[Segment], count: int, moment: datetime, inclusive: bool = False
    ) -> int:
        """Return the first seq whose message is newer than ``moment`` (``count + 1``: none).

        With ``inclusive``, a message at ``moment`` counts as newer.
        """
        low, high = 1, count + 1
        while low < high:
            middle = (low + high) // 2
            found = await self._walker.read(segments, middle, middle, 1, False)
            if not found:
                raise StorageError(f"message {middle} of a history is missing")
            message = found[0]
            newer = message.created_at >= moment if inclusive else message.created_at > moment
            if newer:
                high = middle
            else:
                low = middle + 1
        return low

    async def all_messages(self, session: Session) -> list[Message]:
        """Return the whole visible history, oldest first."""
        messages: list[Message] = []
        async for chunk in self.chunks(session):
            messages.extend(chunk)
        return messages

    async def chunks(self, session: Session) -> AsyncIterator[list[Message]]:
        """Yield the whole visible history, oldest first, a hundred messages at a time.

        Other tasks get a turn of the event loop between chunks (exports).
        """
        async for chunk in self._walker.chunks(await self._walker.head_segments(session)):
            yield chunk
