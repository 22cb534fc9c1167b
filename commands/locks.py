"""A fixed pool of locks that keeps each conversation's messages in order."""

from __future__ import annotations

import asyncio
import zlib


class StripedLocks:
    """``stripes`` asyncio locks; a key always maps to the same one.

    Two keys may share a lock (then they wait for each other, which is harmless);
    one key never has two. Memory is fixed, unlike a lock per session.

    Args:
        stripes: how many locks to keep.
    """

    def __init__(self, stripes: int = 256) -> None:
        if stripes < 1:
            raise ValueError("stripes must be at least 1")
        self._locks = tuple(asyncio.Lock() for _ in range(stripes))

    def __len__(self) -> int:
        return len(self._locks)

    def lock_for(self, key: str) -> asyncio.Lock:
        """Return the lock that guards ``key``."""
        # crc32 rather than hash(): the same key maps to the same stripe in every run.
        return self._locks[zlib.crc32(key.encode("utf-8", "surrogatepass")) % len(self._locks)]
