"""The change feed on PostgreSQL: ``LISTEN``/``NOTIFY`` on one connection of its own.

Every worker listens on :data:`CHANNEL`. An announced change is queued and sent by a
background task, several at a time in one statement; each notification carries the
sender's random origin id, so a worker skips its own. ``NOTIFY`` is delivered to
listeners only once the sending statement commits, in the order sent.

Should the connection drop, notifications sent meanwhile are lost to this worker:
when it is back, everything this worker remembers is dropped (a
:attr:`~core.storage.changes.Scope.EVERYTHING` change to its listeners) and it
reconnects with backoff, while the bot goes on serving (each message then reads the
store, which is always right).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from core.backoff import Backoff
from core.errors import StorageError
from core.ids import new_id
from core.storage.changes import Change, Listener, Scope
from core.storage.sql.units import first_line

if TYPE_CHECKING:
    import asyncpg

logger = logging.getLogger(__name__)

CHANNEL = "sessionbot_changes"
"""The ``LISTEN`` channel every worker of one database shares."""

_SEND = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload"
_BATCH = 200


class PostgresChangeFeed:
    """A :class:`~core.storage.changes.ChangeFeed` over PostgreSQL notifications.

    Args:
        url: the database's URL (any ``postgresql`` driver name).
        connect_args: ``server_settings`` and other asyncpg ``connect`` arguments.
        backoff: delays between reconnection attempts.
    """

    def __init__(
        self,
        url: str | sa.URL,
        *,
        connect_args: Mapping[str, Any] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self._dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(False)
        self._connect_args = dict(connect_args or {})
        self._backoff = backoff or Backoff(initial=0.5, maximum=10.0)
        self.origin = new_id(12)
        self._listeners: list[Listener] = []
        self._pending: list[Change] = []
        self._wake = asyncio.Event()
        self._lost = asyncio.Event()
        self._connection: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def backend_pid(self) -> int | None:
        """The server process of the listening connection, while connected."""
        connection = self._connection
        if connection is None or connection.is_closed():
            return None
        return int(connection.get_server_pid())

    def listen(self, listener: Listener) -> None:
        """See :meth:`core.storage.changes.ChangeFeed.listen`."""
        self._listeners.append(listener)

    def announce(self, change: Change) -> None:
        """See :meth:`core.storage.changes.ChangeFeed.announce`."""
        self._pending.append(change)
        self._wake.set()

    async def start(self) -> None:
        """Connect and listen; raises if the database cannot be reached now.

        Raises:
            StorageError: the first connection failed.
        """
        self._connection = await self._connect()
        self._task = asyncio.create_task(self._run(), name="sessionbot-change-feed")

    async def close(self) -> None:
        """Send what is still queued, then stop listening and disconnect."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await self._send(connection)
                await connection.remove_listener(CHANNEL, self._received)
            await connection.close(timeout=5)

    async def _connect(self) -> asyncpg.Connection:
        import asyncpg  # the SQLite path never needs it

        try:
            connection = await asyncpg.connect(self._dsn, **self._connect_args)
            await connection.add_listener(CHANNEL, self._received)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StorageError(f"cannot listen for changes: {first_line(exc)}") from None
        self._lost.clear()
        connection.add_termination_listener(lambda _: self._lost.set())
        return connection

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            connection = self._connection
            if connection is None or connection.is_closed() or self._lost.is_set():
                connection = await self._reconnect(failures)
                failures = 0 if connection is not None else failures + 1
                continue
            await self._wait_for_work()
            try:
                await self._send(connection)
            except Exception as exc:  # the connection broke mid-send: reconnect
                logger.warning("change feed: sending failed (%s); reconnecting", first_line(exc))
                self._lost.set()

    async def _wait_for_work(self) -> None:
        wake, lost = (
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self._lost.wait()),
        )
        try:
            await asyncio.wait({wake, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            wake.cancel()
            lost.cancel()
        self._wake.clear()

    async def _send(self, connection: asyncpg.Connection) -> None:
        while self._pending:
            batch, self._pending = self._pending[:_BATCH], self._pending[_BATCH:]
            payloads = [self._payload(change) for change in batch]
            try:
                await connection.execute(_SEND, CHANNEL, payloads)
            except BaseException:
                self._pending[:0] = batch  # kept for the next connection
                raise

    async def _reconnect(self, failures: int) -> asyncpg.Connection | None:
        if failures:
            await asyncio.sleep(self._backoff.delay(failures))
        old, self._connection = self._connection, None
        if old is not None and not old.is_closed():
            old.terminate()
        try:
            self._connection = await self._connect()
        except StorageError as error:
            logger.warning("change feed: %s; trying again", error)
            return None
        logger.info("change feed: listening again; what this worker remembered is dropped")
        self._deliver(Change(Scope.EVERYTHING))
        return self._connection

    def _payload(self, change: Change) -> str:
        return json.dumps({"o": self.origin, "s": change.scope.value, "k": change.key})

    def _received(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
            if data["o"] == self.origin:
                return
            change = Change(Scope(data["s"]), str(data["k"]))
        except (ValueError, KeyError, TypeError):
            logger.warning("change feed: ignored a notification that is not a change")
            return
        self._deliver(change)

    def _deliver(self, change: Change) -> None:
        for listener in self._listeners:
            listener(change)
