"""Workers in SQL: the part of :class:`~core.storage.sql.store.SqlStore` for heartbeats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.models import Worker
from core.storage.sql.schema import workers
from core.storage.sql.units import DIALECTS, SqlPart, all_rows, rowcount

_COLUMNS = ("host", "pid", "started_at", "seen_at", "roles")

_BEAT = {
    name: (insert := dml.insert(workers)).on_conflict_do_update(
        index_elements=[workers.c.id], set_={column: insert.excluded[column] for column in _COLUMNS}
    )
    for name, dml, _ in DIALECTS
}
"""Insert a worker's row or replace its heartbeat; the values come as parameters."""


class SqlWorkers(SqlPart):
    """The processes serving the database (see :meth:`Store.beat`)."""

    async def beat(self, worker: Worker, *, forget_before: datetime) -> None:
        """See :meth:`core.storage.protocols.Store.beat`."""
        beat = _BEAT[self._dialect].values(_values(worker))
        gone = sa.delete(workers).where(workers.c.seen_at < forget_before)

        def both(conn: sa.Connection) -> None:
            rowcount(conn, beat)
            rowcount(conn, gone)

        await self._write_quick(both)

    async def workers(self, seen_since: datetime) -> list[Worker]:
        """See :meth:`core.storage.protocols.Store.workers`."""
        query = (
            sa.select(workers)
            .where(workers.c.seen_at >= seen_since)
            .order_by(workers.c.started_at, workers.c.id)
        )
        return [_worker(row) for row in await self._read(all_rows, query)]

    async def forget_worker(self, worker_id: str) -> None:
        """See :meth:`core.storage.protocols.Store.forget_worker`."""
        await self._write_quick(rowcount, sa.delete(workers).where(workers.c.id == worker_id))


def _values(worker: Worker) -> dict[str, Any]:
    return {
        "id": worker.id,
        "host": worker.host[:255],
        "pid": worker.pid,
        "started_at": worker.started_at,
        "seen_at": worker.seen_at,
        "roles": ",".join(worker.roles)[:255],
    }


def _worker(row: sa.RowMapping) -> Worker:
    return Worker(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        started_at=row["started_at"],
        seen_at=row["seen_at"],
        roles=tuple(role for role in row["roles"].split(",") if role),
    )
