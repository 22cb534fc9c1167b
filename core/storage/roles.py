"""The roles of the workers sharing one store: by database kind.

* PostgreSQL: session advisory locks on a connection of their own
  (:class:`core.storage.sql.roles.PostgresRoles`); a dead worker's connection
  closes and its roles are free again.
* SQLite: one machine, so ``flock`` on a lock file beside the database, released by
  the kernel when the holder exits or dies (:class:`FileRoles`).
* Memory: one process (:class:`~core.roles.LocalRoles`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path

from core.files import PRIVATE_FILE
from core.roles import LocalRoles, Roles
from core.storage.backends import database_url, is_memory_url

POLL_SECONDS = 2.0
"""How often a worker waiting for a role asks again."""


class FileRoles:
    """Roles as ``flock`` locks on files beside a SQLite database.

    Args:
        database: the database file; ``bot.db`` has its roles in ``bot.db.ROLE.lock``.
        poll_seconds: how often a waiting worker tries again.
    """

    def __init__(self, database: Path, *, poll_seconds: float = POLL_SECONDS) -> None:
        self._database = database
        self._poll = poll_seconds
        self._held: set[str] = set()

    @property
    def held_roles(self) -> frozenset[str]:
        """See :attr:`core.roles.Roles.held_roles`."""
        return frozenset(self._held)

    @contextlib.asynccontextmanager
    async def held(self, role: str) -> AsyncIterator[asyncio.Event]:
        """See :meth:`core.roles.Roles.held`; a held lock is never lost."""
        path = self._database.with_name(f"{self._database.name}.{role}.lock")
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        try:
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(self._poll)
            self._held.add(role)
            yield asyncio.Event()
        finally:
            self._held.discard(role)
            os.close(descriptor)  # releases the lock


@contextlib.asynccontextmanager
async def opened_roles(url: str) -> AsyncIterator[Roles]:
    """Yield where the workers on ``url``'s store claim roles; give them back after.

    Raises:
        ConfigError: the URL is not a valid storage URL.
        StorageError: PostgreSQL cannot be reached.
    """
    if is_memory_url(url):
        yield LocalRoles()
        return
    parsed = database_url(url)
    if parsed.get_backend_name() != "postgresql":
        yield FileRoles(Path(parsed.database or ""))
        return
    from core.storage.sql.roles import PostgresRoles

    roles = PostgresRoles(parsed)
    await roles.start()
    try:
        yield roles
    finally:
        await roles.close()
