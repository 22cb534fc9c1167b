"""Roles that one worker holds at a time: polling Telegram, running the reset sweeps.

Several ``sessionbot run`` processes may serve one database. Inputs that must have
one receiver (Telegram's long polling: two pollers make Telegram answer 409) and
work that is best done once (the scheduled sweeps) are *roles*: a worker waits until
it holds one, does the work while it holds it, and stops when it is lost (the
database connection that held it broke). When the holder exits or dies, another
worker takes the role over within seconds.

:class:`LocalRoles` serves a process alone; the backends provide the shared kinds
(:func:`core.storage.roles.open_roles`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

SCHEDULER_ROLE = "scheduler"
"""The role of the worker that runs retention cleanup and the reset jobs."""


class Roles(Protocol):
    """Where a worker claims roles."""

    @property
    def held_roles(self) -> frozenset[str]:
        """The roles this worker holds now (for its heartbeat)."""
        ...

    def held(self, role: str) -> AbstractAsyncContextManager[asyncio.Event]:
        """Wait until this worker holds ``role``; give it back on leaving the block.

        Inside the block, the event yielded is set if the role is lost meanwhile (the
        work must then stop; entering again waits for the role anew).
        """
        ...


class LocalRoles:
    """Every role at once, never lost: for a process that is the only worker."""

    def __init__(self) -> None:
        self._held: set[str] = set()

    @property
    def held_roles(self) -> frozenset[str]:
        """See :attr:`Roles.held_roles`."""
        return frozenset(self._held)

    @asynccontextmanager
    async def held(self, role: str) -> AsyncIterator[asyncio.Event]:
        """See :meth:`Roles.held`."""
        self._held.add(role)
        try:
            yield asyncio.Event()
        finally:
            self._held.discard(role)
