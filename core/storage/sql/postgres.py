"""How the store's SQL runs on PostgreSQL: asyncpg, natively asynchronous.

See :mod:`core.storage.sql.runner` for the SQLite side and the :class:`Runner` both
keep.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa

from core.models import Message
from core.storage.sql.append import AppendRequest, Outcome, append_batch
from core.storage.sql.group_commit import GroupCommit
from core.storage.sql.runner import Work, may_be_one_jobs_doing

P = ParamSpec("P")
T = TypeVar("T")


class PostgresRunner:
    """Runs units of work through ``AsyncConnection.run_sync`` on asyncpg.

    Every write but appends has a transaction of its own (PostgreSQL's row locks let
    them proceed side by side); appends are group-committed, four statements a batch
    with the sessions' rows locked in one order (:func:`append_batch`).

    Args:
        url: a ``postgresql+asyncpg`` URL.
        connect_args: extra keyword arguments for asyncpg's ``connect``, such as
            ``server_settings``.
    """

    def __init__(self, url: sa.URL, connect_args: Mapping[str, Any]) -> None:
        # Imported here: SQLAlchemy's asyncio extension loads its ORM too, which a
        # SQLite store never needs, and start-up would pay for both.
        from sqlalchemy.ext.asyncio import create_async_engine

        self._async_engine = create_async_engine(
            url, connect_args=dict(connect_args), hide_parameters=True
        )
        self._appends: GroupCommit[AppendRequest, list[Message]] = GroupCommit(
            self._append_batch, may_be_one_requests_doing=may_be_one_jobs_doing, lone_at_once=True
        )

    @property
    def engine(self) -> sa.Engine:
        """See :attr:`core.storage.sql.runner.Runner.engine`."""
        return self._async_engine.sync_engine

    @property
    def append_transactions(self) -> int:
        """See :attr:`core.storage.sql.runner.Runner.append_transactions`."""
        return self._appends.batches

    async def read(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``work`` on a pooled connection."""
        async with self._async_engine.connect() as conn:
            return await conn.run_sync(work, *args, **kwargs)

    async def read_large(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """:meth:`read`: asyncpg never holds the event loop while rows arrive."""
        return await self.read(work, *args, **kwargs)

    async def write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``work`` in one transaction."""
        async with self._async_engine.begin() as conn:
            return await conn.run_sync(work, *args, **kwargs)

    async def write_quick(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """:meth:`write`: every write is asynchronous here."""
        return await self.write(work, *args, **kwargs)

    def append(self, request: AppendRequest) -> Awaitable[list[Message]]:
        """See :meth:`core.storage.sql.runner.Runner.append`."""
        return self._appends.submit(request)

    async def _append_batch(self, requests: Sequence[AppendRequest]) -> list[Outcome]:
        return await self.write(append_batch, requests, lock_rows=True)

    async def close(self) -> None:
        """Finish queued appends, then close every pooled connection."""
        await self._appends.drain()
        await self._async_engine.dispose()
