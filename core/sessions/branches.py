"""Walking a session's branch chain: which parts of which branches make its history.

A session's visible history is its head branch's messages plus each ancestor's up to
the fork point (DESIGN.md, *Data model*). A :class:`Segment` is one such part.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from core.errors import NotFoundError, StorageError
from core.models import Branch, Message, Session
from core.storage.protocols import Store

READ_CHUNK = 100
"""Messages read at a time for a whole history, between two turns of the event loop:
about 2 ms of reading, opening sealed values and rendering, while others wait."""


@dataclass(frozen=True, slots=True)
class Segment:
    """The part ``lo..hi`` (inclusive) of one branch inside a visible history."""

    branch_id: str
    lo: int
    hi: int


class BranchWalker:
    """Finds and reads the segments of a history.

    Args:
        store: where branches and messages are kept.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    async def head_segments(self, session: Session, upto: int | None = None) -> list[Segment]:
        """Return the segments of the session's history up to seq ``upto``, newest first.

        Raises:
            StorageError: the session's head branch is missing.
        """
        head = await self._store.get_branch(session.head_branch_id)
        if head is None:
            raise StorageError(f"session {session.id} has no head branch")
        return await self.segments(head, head.last_seq if upto is None else upto)

    async def segments(self, branch: Branch, upto: int) -> list[Segment]:
        """Return the branch chain ending at ``branch``'s seq ``upto``, newest first."""
        segments: list[Segment] = []
        current: Branch | None = branch
        bound = upto
        while current is not None and bound > 0:
            if bound > current.fork_seq:
                segments.append(Segment(current.id, current.fork_seq + 1, bound))
            bound = min(bound, current.fork_seq)
            if current.parent_id is None:
                break
            current = await self._store.get_branch(current.parent_id)
        return segments

    async def read(
        self, segments: list[Segment], lo: int, hi: int, limit: int, newest_first: bool
    ) -> list[Message]:
        """Return up to ``limit`` messages with ``lo <= seq <= hi`` across ``segments``."""
        ordered = segments if newest_first else list(reversed(segments))
        found: list[Message] = []
        for segment in ordered:
            if len(found) >= limit:
                break
            low, high = max(lo, segment.lo), min(hi, segment.hi)
            if low > high:
                continue
            found.extend(
                await self._store.read_messages(
                    segment.branch_id,
                    min_seq=low,
                    max_seq=high,
                    limit=limit - len(found),
                    newest_first=newest_first,
                )
            )
        return found

    async def chunks(self, segments: list[Segment]) -> AsyncIterator[list[Message]]:
        """Yield the messages of ``segments`` (newest first) oldest first, in chunks."""
        for segment in reversed(segments):
            low = segment.lo
            while low <= segment.hi:
                chunk = await self._store.read_messages(
                    segment.branch_id,
                    min_seq=low,
                    max_seq=segment.hi,
                    limit=READ_CHUNK,
                    newest_first=False,
                )
                if not chunk:
                    break
                yield chunk
                low = chunk[-1].seq + 1
                # A SQLite read runs on the event loop's thread and never suspends:
                # without a turn here, an export of a long history would hold up
                # every other conversation until the last chunk.
                await asyncio.sleep(0)

    async def visible(self, segments: list[Segment], message_id: str) -> Message:
        """Return the message ``message_id`` if it is part of ``segments``.

        Raises:
            NotFoundError: it is not (another session's, or cut off by a restore).
        """
        message = await self._store.get_message(message_id)
        if message is not None:
            for segment in segments:
                inside = segment.lo <= message.seq <= segment.hi
                if message.branch_id == segment.branch_id and inside:
                    return message
        raise NotFoundError(f"No message {message_id!r} in this session.")
