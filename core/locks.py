"""A lock per key in progress: keeps the events of one conversation (or chat) in order.

The router holds one per conversation; the Telegram adapter one per chat. Both need
the same thing, so it is written once, here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from types import TracebackType


class KeyedLocks:
    """One asyncio lock per key, kept only while someone holds or awaits it.

    Messages of one key wait for each other, in arrival order (asyncio's locks are
    fair); messages of different keys never do, however long one of them takes (an
    LLM's answer, an export of a long history). Memory follows the keys in progress
    at this moment, not every key ever seen.
    """

    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}

    def __len__(self) -> int:
        """How many keys are held or awaited right now."""
        return len(self._entries)

    def lock_for(self, key: Hashable) -> _Holding:
        """Return an ``async with`` context that holds ``key``'s lock."""
        return _Holding(self._entries, key)


class _Entry:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0
        """Tasks holding or awaiting the lock; the entry goes when none is left."""


class _Holding:
    __slots__ = ("_entries", "_entry", "_key")

    def __init__(self, entries: dict[Hashable, _Entry], key: Hashable) -> None:
        self._entries = entries
        self._key = key
        self._entry: _Entry | None = None

    async def __aenter__(self) -> None:
        entry = self._entries.get(self._key)
        if entry is None:
            entry = self._entries[self._key] = _Entry()
        entry.users += 1
        self._entry = entry
        try:
            await entry.lock.acquire()
        except BaseException:
            # Cancelled while waiting: this task neither holds nor awaits it any more.
            self._leave(entry)
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        entry = self._entry
        assert entry is not None, "released without being held"
        entry.lock.release()
        self._leave(entry)

    def _leave(self, entry: _Entry) -> None:
        self._entry = None
        entry.users -= 1
        if not entry.users:
            del self._entries[self._key]
