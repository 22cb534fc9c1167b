"""An append that waits for another process's head switch lands on the new head.

Reproduced deterministically on PostgreSQL with two connections: one switches the
session's head inside a transaction it holds open; the store's append blocks on the
session's row lock; the switch commits; the append must then see the new head (it
used to find no row at all and fail with "head branch … is missing").
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from core.errors import StaleSessionError
from core.ids import new_id
from core.models import Branch, NewMessage, Role
from core.storage.sql.schema import branches, sessions
from core.storage.sql.store import SqlStore
from tests.core.conftest import postgres_schema
from tests.core.test_store_contract import fill, start

pytestmark = pytest.mark.postgres
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def blocked_on_a_lock(conn: sa.ext.asyncio.AsyncConnection) -> None:
    """Return once some other backend waits for a row lock."""
    waiting = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )
    # The server's own view is the only witness of a backend waiting: polled, bounded.
    for _ in range(1000):
        if (await conn.execute(waiting)).scalar():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the append never waited for the head switch's lock")


@pytest.mark.parametrize("expects_the_old_head", [False, True])
async def test_an_append_behind_a_head_switch_sees_the_new_head(
    expects_the_old_head: bool,
) -> None:
    async with postgres_schema() as (url, connect_args):
        store = SqlStore(url, connect_args=connect_args)
        other = create_async_engine(url, connect_args=connect_args)
        watcher = create_async_engine(url, connect_args=connect_args)
        try:
            await store.open()
            session = await start(store)
            await fill(store, session, 3)
            fork = Branch(new_id(10), session.id, session.head_branch_id, 2, 2, AT)
            async with other.connect() as switcher, watcher.connect() as watch:
                switch = await switcher.begin()
                await switcher.execute(branches.insert().values(
                    id=fork.id, session_id=fork.session_id, parent_id=fork.parent_id,
                    fork_seq=fork.fork_seq, last_seq=fork.last_seq, created_at=fork.created_at,
                ))  # fmt: skip
                await switcher.execute(
                    sessions.update()
                    .where(sessions.c.id == session.id)
                    .values(head_branch_id=fork.id, message_count=2)
                )
                expect = session.head_branch_id if expects_the_old_head else None
                append = asyncio.create_task(
                    store.append_messages(
                        session.id,
                        [NewMessage(Role.ASSISTANT, "bot", "answer")],
                        [new_id(20)],
                        AT,
                        expect_head=expect,
                    )
                )
                await blocked_on_a_lock(watch)
                await switch.commit()
            if expects_the_old_head:
                with pytest.raises(StaleSessionError):
                    await append
                return
            [stored] = await append
            assert (stored.branch_id, stored.seq) == (fork.id, 3)
            current = await store.get_session(session.id)
            assert current is not None and current.message_count == 3
        finally:
            await store.close()
            await other.dispose()
            await watcher.dispose()
