"""Each running process says it is alive, and which roles it holds, every few seconds.

``sessionbot status`` reads these rows: the workers seen lately, which of them polls
Telegram and which runs the sweeps. A worker that stops removes its row; one that
dies stops beating, drops out of the status after :data:`MISSED_BEATS` heartbeats, and its row
is deleted by another worker's beat a day later.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import datetime, timedelta

from core.clock import Clock
from core.errors import StorageError
from core.ids import new_id
from core.models import Worker
from core.roles import Roles
from core.storage.protocols import Store

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
"""How often a worker writes its heartbeat, unless ``[bot] heartbeat_seconds`` says."""

MISSED_BEATS = 3
"""A worker that missed this many heartbeats in a row is not listed as alive."""

TAKE_OVER_AFTER_BEATS = 5
"""A worker that missed this many heartbeats in a row counts as dead: what it was
handling, another worker may take over. More than :data:`MISSED_BEATS`: taking over
from a worker that is only slow would handle a message twice."""

FORGET_AFTER = timedelta(days=1)
"""Rows of workers silent for this long are deleted."""


class Heartbeat:
    """This process's heartbeat row.

    Args:
        store: the store the workers share.
        roles: where this worker's roles are held.
        clock: source of the current time.
        every: seconds between heartbeats.
    """

    def __init__(
        self, store: Store, roles: Roles, clock: Clock, *, every: float = HEARTBEAT_SECONDS
    ) -> None:
        self._store = store
        self._roles = roles
        self._clock = clock
        self._every = every
        self.worker_id = new_id(10)
        self._started = clock.now()

    async def run(self) -> None:
        """Beat until cancelled; a beat the database refuses is logged and tried again."""
        while True:
            try:
                await self.beat()
            except StorageError as error:
                logger.warning("heartbeat not recorded: %s", error)
            await asyncio.sleep(self._every)

    @property
    def alive_within(self) -> timedelta:
        """How long after its last heartbeat a worker's claims are still its own."""
        return timedelta(seconds=self._every * TAKE_OVER_AFTER_BEATS)

    async def beat_once(self) -> None:
        """Record a first heartbeat before serving; a database refusing it is logged."""
        try:
            await self.beat()
        except StorageError as error:
            logger.warning("heartbeat not recorded: %s", error)

    async def beat(self) -> None:
        """Record one heartbeat now."""
        now = self._clock.now()
        await self._store.beat(self._worker(now), forget_before=now - FORGET_AFTER)

    async def forget(self) -> None:
        """Remove this worker's row (it is stopping); a database that is gone is let be."""
        try:
            await self._store.forget_worker(self.worker_id)
        except StorageError as error:
            logger.warning("could not remove this worker's heartbeat: %s", error)

    def _worker(self, now: datetime) -> Worker:
        return Worker(
            id=self.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=self._started,
            seen_at=now,
            roles=tuple(sorted(self._roles.held_roles)),
        )
