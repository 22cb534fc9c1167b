"""U+0000 on every backend: stored faithfully, and never another write's undoing.

PostgreSQL text cannot hold U+0000. The bot's store (the sealing layer, also without
encryption) writes such text in a tagged, escaped form that reads back the same; and a
value the database refuses fails only the write that holds it, not the others that
shared its group commit.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from commands import Router, RouterSettings, default_registry
from core.clock import ManualClock
from core.crypto.sealing import SealedStore
from core.errors import RejectedValueError
from core.ids import new_id
from core.models import Inbound, NewMessage, Role
from core.sessions.manager import SessionManager
from core.sessions.responders import EchoResponder
from core.storage.protocols import Backend, SessionFilter
from core.storage.sql.store import SqlStore
from tests.core.conftest import postgres_schema
from tests.core.test_store_contract import start

NUL = "a\x00b %00 c"
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_text_with_nul_reads_back_the_same(backend: Backend) -> None:
    store = SealedStore(backend, None)  # what open_store gives without encryption
    await store.check_key()
    manager = SessionManager(store, clock=ManualClock())
    session = (await manager.resolve(Inbound("console", "c", "u", "x"))).session
    session = await manager.sessions.update(session, title=f"t{NUL}", tags=[f"g{NUL}"])
    await manager.history.append(session, NewMessage(Role.USER, "u", NUL))
    session = await manager.sessions.get(session.id)
    await manager.checkpoints.save(session, f"n{NUL}", f"d{NUL}", by="u")
    reader = SessionManager(store, live_conversations=0)  # nothing from memory
    stored = await reader.sessions.get(session.id)
    assert (stored.title, stored.tags) == (f"t{NUL}", (f"g{NUL}",))
    assert [m.content for m in await reader.history.all_messages(stored)] == [NUL]
    [checkpoint] = await reader.checkpoints.list(stored)
    assert (checkpoint.name, checkpoint.description) == (f"n{NUL}", f"d{NUL}")


@pytest.mark.postgres
async def test_a_refused_value_fails_its_own_append_only() -> None:
    async with postgres_schema() as (url, connect_args):
        backend = SqlStore(url, connect_args=connect_args)
        await backend.open()
        try:
            await refused_alone(backend)
        finally:
            await backend.close()


async def refused_alone(backend: Backend) -> None:
    """Twenty appends share group commits on PostgreSQL; one holds U+0000 (bare)."""
    session_ids = [(await start(backend, f"console:c:c:u:{n}")).id for n in range(20)]

    async def append(number: int, session_id: str) -> object:
        text = "bad\x00" if number == 7 else f"good {number}"
        message = NewMessage(Role.USER, "u", text)
        return await backend.append_messages(session_id, [message], [new_id(20)], AT)

    outcomes = await asyncio.gather(
        *(append(n, sid) for n, sid in enumerate(session_ids)), return_exceptions=True
    )
    assert isinstance(outcomes[7], RejectedValueError)
    good = [o for n, o in enumerate(outcomes) if n != 7]
    assert all(isinstance(o, list) and len(o) == 1 for o in good), good


async def test_a_burst_with_one_nul_message_is_answered_in_full(backend: Backend) -> None:
    store = SealedStore(backend, None)
    await store.check_key()
    router = Router(
        SessionManager(store),
        EchoResponder(),
        default_registry(load_plugins=False),
        RouterSettings(rate_limit_per_minute=0),
    )
    texts = [f"hello {n}" if n != 30 else f"hello{NUL}" for n in range(60)]
    replies = await asyncio.gather(
        *(
            router.handle(Inbound("telegram", f"chat{n}", f"user{n}", t))
            for n, t in enumerate(texts)
        )
    )
    assert [[r.text for r in answer] for answer in replies] == [[f"echo: {t}"] for t in texts]


async def test_filters_holding_nul_find_what_holds_it_and_fail_nothing(backend: Backend) -> None:
    store = SealedStore(backend, None)
    await store.check_key()
    manager = SessionManager(store, clock=ManualClock())
    session = (await manager.resolve(Inbound("console", "c", "u", "x"))).session
    await manager.sessions.update(session, title=f"t{NUL}", tags=[f"g{NUL}"])
    await start(store, "other", title="plain")
    for where, found in (
        (SessionFilter(title_contains="a\x00b"), [session.id]),
        (SessionFilter(tag_contains="g" + NUL[:2]), [session.id]),
        (SessionFilter(title_contains="\x00", platform="console"), [session.id]),
        (SessionFilter(platform="console\x00"), []),
        (SessionFilter(owners=("console:u\x00",)), []),
        (SessionFilter(channel_id="c\x00", platform="console"), []),
    ):
        assert [s.id for s in await store.list_sessions(where, limit=10)] == found, where
        assert await store.count_sessions(where) == len(found), where


async def test_a_look_up_by_a_key_holding_nul_finds_nothing(backend: Backend) -> None:
    store = SealedStore(backend, None)
    await store.check_key()
    await start(store, "k")
    odd = "a\x00b"
    assert await store.get_session(odd) is None
    assert await store.get_active_session(odd) is None
    assert await store.get_branch(odd) is None
    assert await store.get_message(odd) is None
    assert await store.get_checkpoint(odd) is None
    assert await store.get_channel_settings(odd) is None
    assert await store.get_api_key(odd) is None
