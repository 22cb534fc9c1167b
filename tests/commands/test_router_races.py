"""A plain message lands in whatever session is active when it is finally stored.

Another worker's ``/new`` between this worker's resolve and its append makes the
append stale (nothing is written); the router reads the session again and retries,
a bounded number of times, without a traceback for an expected race.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import pytest

from commands.router import KEPT_CHANGING, REFUSED_VALUE, STORE_ATTEMPTS
from core.errors import RejectedValueError
from core.models import ArchiveReason, Message, NewMessage
from core.sessions.manager import SessionManager
from core.storage.memory import MemoryStore
from core.storage.protocols import SessionFilter
from core.storage.search import BlindTerms
from tests.builders import inbound
from tests.commands.helpers import Chat


class BusyElsewhere(MemoryStore):
    """A shared store where another worker runs ``/new`` just before each user append."""

    def __init__(self, changes: int) -> None:
        super().__init__()
        self.changes_left = changes
        self.other_worker = SessionManager(self, live_conversations=0)

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[NewMessage],
        ids: Sequence[str],
        at: datetime,
        *,
        expect_head: str | None = None,
        blind_terms: Sequence[BlindTerms] = (),
    ) -> list[Message]:
        if expect_head is not None and self.changes_left > 0:
            self.changes_left -= 1
            await self.other_worker.sessions.start_new(inbound(""), ArchiveReason.NEW)
        return await super().append_messages(
            session_id, messages, ids, at, expect_head=expect_head, blind_terms=blind_terms
        )


async def sessions_of(store: MemoryStore) -> list[list[str]]:
    """The contents of every session, oldest first."""
    found = await store.list_sessions(SessionFilter(), limit=100)
    chat_view = SessionManager(store, live_conversations=0)
    return [[m.content for m in await chat_view.history.all_messages(s)] for s in reversed(found)]


@pytest.mark.parametrize("changes", [1, 2, STORE_ATTEMPTS - 1])
async def test_the_message_follows_the_session_however_often_it_moves(
    changes: int, caplog: pytest.LogCaptureFixture
) -> None:
    store = BusyElsewhere(changes=0)
    chat = Chat(store=store)
    await chat.say("first")
    store.changes_left = changes
    assert await chat.say("second") == "echo: second"
    history = await sessions_of(store)
    assert history[0] == ["first", "echo: first"]
    assert history[-1] == ["second", "echo: second"]
    assert [h for h in history[1:-1] if h] == []  # the sessions in between stayed empty
    assert len(history) == changes + 1
    assert not [r for r in caplog.records if r.exc_info]


async def test_it_gives_up_with_one_clear_line_and_stores_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = BusyElsewhere(changes=0)
    chat = Chat(store=store)
    await chat.say("first")
    store.changes_left = STORE_ATTEMPTS
    with caplog.at_level(logging.WARNING):
        assert await chat.say("second") == KEPT_CHANGING
    assert all("second" not in contents for contents in await sessions_of(store))
    assert not [r for r in caplog.records if r.exc_info]
    assert any("changed 5 times in a row" in r.getMessage() for r in caplog.records)
    assert await chat.say("third") == "echo: third"  # and the conversation goes on


class RefusesOneValue(MemoryStore):
    """A store whose database refuses any message holding the word "refused"."""

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[NewMessage],
        ids: Sequence[str],
        at: datetime,
        *,
        expect_head: str | None = None,
        blind_terms: Sequence[BlindTerms] = (),
    ) -> list[Message]:
        if any("refused" in m.content for m in messages):
            raise RejectedValueError("database error: invalid byte sequence")
        return await super().append_messages(
            session_id, messages, ids, at, expect_head=expect_head, blind_terms=blind_terms
        )


async def test_a_value_the_database_refuses_gets_one_line_and_the_chat_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    chat = Chat(store=RefusesOneValue())
    assert await chat.say("refused here") == REFUSED_VALUE
    assert await chat.say("fine") == "echo: fine"
    assert not [r for r in caplog.records if r.exc_info]
