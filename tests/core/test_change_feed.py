"""Several workers on one PostgreSQL database: each hears what the others change.

Two session managers, each with its own memory of conversations and its own
``LISTEN`` connection, stand for two ``sessionbot run`` processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from commands import Router, RouterSettings, default_registry
from core.models import Message, Session
from core.sessions.manager import SessionManager
from core.sessions.responders import Answer
from core.storage.backends import database_url
from core.storage.changes import Change, Scope
from core.storage.sql.notify import PostgresChangeFeed
from core.storage.sql.store import SqlStore
from tests.builders import inbound
from tests.core.conftest import postgres_schema, postgres_url

pytestmark = pytest.mark.postgres
WAIT = 10.0


class TitleSeer:
    """A responder that answers with the title of the session it was handed."""

    name = "title-seer"

    async def respond(self, session: Session, context: Sequence[Message]) -> Answer:
        return Answer(f"title: {session.title}")


@dataclass
class Worker:
    store: SqlStore
    feed: PostgresChangeFeed
    manager: SessionManager
    router: Router


@pytest.fixture
async def workers() -> AsyncIterator[tuple[Worker, Worker]]:
    async with postgres_schema() as (url, connect_args):
        made: list[Worker] = []
        try:
            for _ in range(2):
                store = SqlStore(url, connect_args=connect_args)
                await store.open()
                feed = PostgresChangeFeed(url, connect_args=connect_args)
                await feed.start()
                manager = SessionManager(store, feed=feed)
                router = Router(
                    manager,
                    TitleSeer(),
                    default_registry(load_plugins=False),
                    RouterSettings(admins=frozenset({"console:alice"})),
                )
                made.append(Worker(store, feed, manager, router))
            yield made[0], made[1]
        finally:
            for worker in made:
                await worker.feed.close()
                await worker.store.close()


async def eventually(condition: Callable[[], bool]) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.01)


async def say(worker: Worker, text: str) -> str:
    [reply] = await worker.router.handle(inbound(text))
    return reply.text


async def test_a_title_set_through_one_worker_reaches_the_others_next_reply(
    workers: tuple[Worker, Worker],
) -> None:
    first, second = workers
    assert await say(second, "hello") == "title: None"  # second now remembers the session
    key = await second.manager.key_for(inbound(""))
    assert second.manager.store.remembered_session(key.value) is not None
    assert "is now called" in await say(first, "/session title Trip plans")
    await eventually(lambda: second.manager.store.remembered_session(key.value) is None)
    assert await say(second, "and now?") == "title: Trip plans"


async def test_channel_settings_and_deletions_are_heard(workers: tuple[Worker, Worker]) -> None:
    first, second = workers
    await say(second, "hello")
    channel = (await second.manager.channels.place(inbound(""))).channel_key
    await second.manager.channels.settings(inbound(""))
    assert second.manager.store.remembered_settings(channel)[0]  # known: read from memory
    await first.manager.channels.update(inbound(""), idle_reset_minutes=5)
    await eventually(lambda: not second.manager.store.remembered_settings(channel)[0])
    key = (await second.manager.key_for(inbound(""))).value
    session = await second.manager.resolve(inbound(""), remembered=True)
    await first.manager.sessions.delete(session.session.id)
    await eventually(lambda: second.manager.store.remembered_session(key) is None)


async def test_a_worker_cut_off_from_the_feed_forgets_everything_then_hears_again(
    workers: tuple[Worker, Worker],
) -> None:
    first, second = workers
    await say(second, "hello")
    key = (await second.manager.key_for(inbound(""))).value
    heard: list[Change] = []
    second.feed.listen(heard.append)
    pid = second.feed.backend_pid
    assert pid is not None
    admin = create_async_engine(database_url(postgres_url()))
    try:
        async with admin.connect() as conn:  # the server cuts the connection, as a restart would
            await conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()
    await eventually(lambda: Change(Scope.EVERYTHING) in heard)
    assert second.manager.store.remembered_session(key) is None
    await say(second, "back")  # remembered again
    await first.manager.channels.update(inbound(""), idle_reset_minutes=7)
    channel = (await second.manager.channels.place(inbound(""))).channel_key
    await eventually(lambda: Change(Scope.CHANNEL, channel) in heard)
