"""Roles on PostgreSQL: session advisory locks on one connection of this worker's own.

A role is held while this worker's connection holds ``pg_try_advisory_lock`` on the
role's key. When the worker exits or dies its connection closes and the server frees
the lock; a waiting worker, asking every few seconds, takes it over. When this
worker's connection breaks (a server restart, a network fault noticed by the ping
below), every role it held is reported lost at once: the server may already have
handed them to someone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from core.backoff import Backoff
from core.errors import StorageError
from core.storage.sql.units import first_line

if TYPE_CHECKING:
    import asyncpg

logger = logging.getLogger(__name__)

POLL_SECONDS = 2.0
"""How often a waiting worker asks for a role, and a holder checks its connection."""


def role_key(role: str) -> int:
    """The advisory lock key of ``role``: 64 bits of a hash, signed as PostgreSQL's bigint."""
    digest = hashlib.sha256(f"sessionbot role {role}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresRoles:
    """A :class:`~core.roles.Roles` whose roles are advisory locks.

    Args:
        url: the database's URL (any ``postgresql`` driver name).
        connect_args: ``server_settings`` and other asyncpg ``connect`` arguments.
        poll_seconds: how often to ask for a role and to check the connection.
        backoff: delays between reconnection attempts.
    """

    def __init__(
        self,
        url: str | sa.URL,
        *,
        connect_args: Mapping[str, Any] | None = None,
        poll_seconds: float = POLL_SECONDS,
        backoff: Backoff | None = None,
    ) -> None:
        self._dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(False)
        self._connect_args = dict(connect_args or {})
        self._poll = poll_seconds
        self._backoff = backoff or Backoff(initial=0.5, maximum=10.0)
        self._connection: asyncpg.Connection | None = None
        self._talking = asyncio.Lock()  # one statement at a time on the connection
        self._held: dict[str, asyncio.Event] = {}
        self._failures = 0
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect.

        Raises:
            StorageError: the database cannot be reached now.
        """
        self._connection = await self._connect()
        self._watch = asyncio.create_task(self._watch_connection(), name="sessionbot-roles")

    async def close(self) -> None:
        """Give every role back and disconnect."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            await connection.close(timeout=5)

    @property
    def backend_pid(self) -> int | None:
        """The server process of the connection holding the roles, while connected."""
        connection = self._connection
        if connection is None or connection.is_closed():
            return None
        return int(connection.get_server_pid())

    @property
    def held_roles(self) -> frozenset[str]:
        """The roles this worker holds now."""
        return frozenset(role for role, lost in self._held.items() if not lost.is_set())

    @contextlib.asynccontextmanager
    async def held(self, role: str) -> AsyncIterator[asyncio.Event]:
        """See :meth:`core.roles.Roles.held`."""
        key = role_key(role)
        connection = await self._acquire(key)
        lost = asyncio.Event()
        self._held[role] = lost
        logger.info("this worker now holds the %s role", role)
        try:
            yield lost
        finally:
            del self._held[role]
            current = self._connection
            if not lost.is_set() and current is not None and current is connection:
                with contextlib.suppress(Exception):
                    async with self._talking:
                        await current.execute("SELECT pg_advisory_unlock($1)", key)

    async def _acquire(self, key: int) -> asyncpg.Connection:
        while True:
            connection = await self._usable()
            if connection is not None:
                try:
                    async with self._talking:
                        if await connection.fetchval("SELECT pg_try_advisory_lock($1)", key):
                            return connection
                except Exception as exc:
                    self._broken(f"asking for a role failed ({first_line(exc)})")
            await asyncio.sleep(self._poll)

    async def _usable(self) -> asyncpg.Connection | None:
        connection = self._connection
        if connection is not None and not connection.is_closed():
            return connection
        if self._failures:
            await asyncio.sleep(self._backoff.delay(self._failures))
        try:
            self._connection = await self._connect()
        except StorageError as error:
            self._failures += 1
            logger.warning("roles: %s; trying again", error)
            return None
        self._failures = 0
        return self._connection

    async def _connect(self) -> asyncpg.Connection:
        import asyncpg  # the SQLite path never needs it

        try:
            connection = await asyncpg.connect(self._dsn, **self._connect_args)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StorageError(f"cannot reach the database for roles: {first_line(exc)}") from None
        connection.add_termination_listener(lambda _: self._broken("its connection closed"))
        return connection

    async def _watch_connection(self) -> None:
        """Ping while roles are held, so a silent network fault is noticed too."""
        while True:
            await asyncio.sleep(self._poll)
            connection = self._connection
            if not self._held or connection is None or connection.is_closed():
                continue
            try:
                async with self._talking:
                    await asyncio.wait_for(connection.fetchval("SELECT 1"), self._poll)
            except Exception as exc:
                self._broken(f"its connection stopped answering ({first_line(exc)})")
                connection.terminate()

    def _broken(self, why: str) -> None:
        if self._connection is not None:
            self._connection = None
        for role, lost in self._held.items():
            if not lost.is_set():
                logger.warning("this worker lost the %s role: %s", role, why)
                lost.set()
