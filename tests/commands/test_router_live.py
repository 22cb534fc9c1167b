"""What a worker remembers of a conversation never beats what another worker stored.

Two workers, each a :class:`SessionManager` with its own :class:`Router`, share one
store and one clock, as two processes behind one database do. Every test runs with
conversations remembered (``live_conversations=1000``) and with none remembered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from commands import Router, default_registry
from core.clock import ManualClock
from core.models import ArchiveReason, Message, Session
from core.sessions.manager import SessionManager
from core.sessions.resets import ResetRules
from core.sessions.responders import Answer
from core.storage.protocols import Store
from tests.builders import assistant_message, inbound
from tests.commands.helpers import id_after
from tests.core.conftest import BACKENDS, opened

START = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
IDLE_30 = ResetRules(idle_reset_minutes=30)


class RecordingResponder:
    """Answers ``re: <last message>`` and records what it was shown."""

    name = "recording"

    def __init__(self) -> None:
        self.contexts: list[list[str]] = []
        self.titles: list[str | None] = []

    async def respond(self, session: Session, context: Sequence[Message]) -> Answer:
        self.contexts.append([message.content for message in context])
        self.titles.append(session.title)
        return Answer(f"re: {context[-1].content}")


class Worker:
    """One process's manager, router and responder."""

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager
        self.responder = RecordingResponder()
        self.router = Router(manager, self.responder, default_registry(load_plugins=False))

    async def say(self, text: str) -> str:
        replies = await self.router.handle(inbound(text))
        assert len(replies) == 1, replies
        return replies[0].text

    async def active(self) -> Session:
        """The conversation's active session, as stored."""
        key = await self.manager.key_for(inbound())
        session = await self.manager.store.get_active_session(key.value)
        assert session is not None
        return session

    async def contents(self, session: Session) -> list[str]:
        """The visible history of ``session`` as stored now."""
        stored = await self.manager.sessions.get(session.id)
        return [message.content for message in await self.manager.history.all_messages(stored)]


MakeWorker = Callable[..., Worker]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with opened(request.param, tmp_path) as backend:
        yield backend


@pytest.fixture(params=[1000, 0], ids=["remembered", "nothing-remembered"])
def live_conversations(request: pytest.FixtureRequest) -> int:
    value: int = request.param
    return value


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def make_worker(store: Store, clock: ManualClock, live_conversations: int) -> MakeWorker:
    def make(reset_rules: ResetRules | None = None) -> Worker:
        manager = SessionManager(
            store, clock=clock, reset_rules=reset_rules, live_conversations=live_conversations
        )
        return Worker(manager)

    return make


@pytest.fixture
def here(make_worker: MakeWorker) -> Worker:
    return make_worker()


@pytest.fixture
def there(make_worker: MakeWorker) -> Worker:
    return make_worker()


# -- sessions ended elsewhere -----------------------------------------------------------


async def test_a_session_archived_by_another_worker_gets_no_more_messages(
    here: Worker, there: Worker
) -> None:
    await here.say("one")
    first = await here.active()
    assert await there.manager.sessions.archive(first, ArchiveReason.NEW)
    assert await here.say("two") == "re: two"
    assert (await here.manager.sessions.get(first.id)).message_count == 2
    assert await here.contents(first) == ["one", "re: one"]
    fresh = await here.active()
    assert fresh.id != first.id
    assert await here.contents(fresh) == ["two", "re: two"]
    assert here.responder.contexts[-1] == ["two"]


async def test_a_new_session_started_on_another_worker_takes_the_next_message(
    here: Worker, there: Worker
) -> None:
    await here.say("one")
    first = await here.active()
    await there.say("/new errands")
    assert await here.say("two") == "re: two"
    second = await here.active()
    assert second.id != first.id and second.title == "errands"
    assert await here.contents(first) == ["one", "re: one"]
    assert await here.contents(second) == ["two", "re: two"]


async def test_a_session_resumed_on_another_worker_takes_the_next_message(
    here: Worker, there: Worker
) -> None:
    await here.say("one")
    first = await here.active()
    await there.say("/new")
    await here.say("two")
    second = await here.active()
    await there.say(f"/session resume {first.id}")
    assert await here.say("three") == "re: three"
    assert here.responder.contexts[-1] == ["one", "re: one", "three"]
    assert await here.contents(first) == ["one", "re: one", "three", "re: three"]
    assert await here.contents(second) == ["two", "re: two"]


async def test_a_session_deleted_by_an_operator_gets_the_next_message_in_a_fresh_one(
    here: Worker, there: Worker
) -> None:
    """``sessionbot sessions delete`` runs in another process, with its own manager."""
    await here.say("one")
    first = await here.active()
    assert await there.manager.sessions.delete(first.id)
    assert await here.say("two") == "re: two"
    assert await here.contents(await here.active()) == ["two", "re: two"]


async def test_an_idle_sweep_on_another_worker_is_announced_and_closes_the_session(
    make_worker: MakeWorker, clock: ManualClock
) -> None:
    here, there = make_worker(IDLE_30), make_worker(IDLE_30)
    await here.say("one")
    first = await here.active()
    clock.advance(timedelta(minutes=31))
    assert [s.id for s in await there.manager.maintenance.archive_idle_sessions()] == [first.id]
    assert await here.say("two") == (
        f"Started a new session: the last one was idle for 31 min. "
        f"/session resume {first.id} to go back.\n\nre: two"
    )
    assert (await here.manager.sessions.get(first.id)).message_count == 2
    assert await here.contents(await here.active()) == ["two", "re: two"]


# -- resets decided on a remembered session -------------------------------------------


async def test_a_remembered_session_past_its_idle_limit_is_reset_with_the_notice(
    make_worker: MakeWorker, clock: ManualClock
) -> None:
    here = make_worker(IDLE_30)
    await here.say("before")
    old = await here.active()
    clock.advance(timedelta(minutes=31))
    assert await here.say("after") == (
        f"Started a new session: the last one was idle for 31 min. "
        f"/session resume {old.id} to go back.\n\nre: after"
    )
    assert await here.say("again") == "re: again"
    assert await here.contents(old) == ["before", "re: before"]
    assert await here.contents(await here.active()) == ["after", "re: after", "again", "re: again"]


async def test_a_session_kept_alive_on_another_worker_is_not_reset(
    make_worker: MakeWorker, clock: ManualClock
) -> None:
    """Here the session looks idle for 40 minutes; the store knows a message 20 minutes ago."""
    here, there = make_worker(IDLE_30), make_worker(IDLE_30)
    await here.say("one")
    session = await here.active()
    clock.advance(timedelta(minutes=20))
    await there.say("two")
    clock.advance(timedelta(minutes=20))
    assert await here.say("three") == "re: three"
    assert (await here.active()).id == session.id
    assert await here.contents(session) == [
        "one",
        "re: one",
        "two",
        "re: two",
        "three",
        "re: three",
    ]


# -- sessions changed elsewhere -------------------------------------------------------


async def test_another_worker_s_messages_are_in_the_next_context_in_order(
    here: Worker, there: Worker
) -> None:
    await here.say("one")
    await there.say("two")
    await there.say("three")
    await here.say("four")
    everything = ["one", "re: one", "two", "re: two", "three", "re: three", "four"]
    assert here.responder.contexts[-1] == everything
    await here.say("five")
    assert here.responder.contexts[-1] == [*everything, "re: four", "five"]


async def test_a_message_stored_directly_by_another_process_is_in_the_next_context(
    here: Worker, there: Worker
) -> None:
    """Another process (a scheduler posting a notice, say) appends without a router."""
    await here.say("one")
    await there.manager.history.append(await here.active(), assistant_message("a notice"))
    await here.say("two")
    assert here.responder.contexts[-1] == ["one", "re: one", "a notice", "two"]


async def test_a_restore_on_another_worker_moves_the_next_message_to_the_new_head(
    here: Worker, there: Worker
) -> None:
    await here.say("one")
    mark = id_after("/checkpoint restore", await there.say("/checkpoint save mark"))
    await here.say("two")
    before = await here.active()
    await there.say(f"/checkpoint restore {mark}")
    await here.say("three")
    after = await here.active()
    assert after.id == before.id and after.head_branch_id != before.head_branch_id
    assert here.responder.contexts[-1] == ["one", "re: one", "three"]
    assert await here.contents(after) == ["one", "re: one", "three", "re: three"]
    old_head = await here.manager.store.read_messages(
        before.head_branch_id, limit=100, newest_first=False
    )
    assert [m.content for m in old_head] == ["one", "re: one", "two", "re: two"]


async def test_a_clear_on_another_worker_starts_the_next_context_afresh(
    here: Worker, there: Worker
) -> None:
    await here.say("one")
    before = await here.active()
    await there.say("/history clear")
    assert await here.say("two") == "re: two"
    assert here.responder.contexts[-1] == ["two"]
    after = await here.active()
    assert after.id == before.id
    assert await here.contents(after) == ["two", "re: two"]
    old_head = await here.manager.store.read_messages(
        before.head_branch_id, limit=100, newest_first=False
    )
    assert [m.content for m in old_head] == ["one", "re: one"]


# -- commands ----------------------------------------------------------------------------


async def test_a_title_set_by_a_command_reaches_the_next_reply(
    here: Worker, live_conversations: int
) -> None:
    await here.say("hello")
    key = (await here.manager.key_for(inbound())).value
    assert (here.manager.store.memory.session(key) is not None) == (live_conversations > 0)
    await here.say("/session title Plans")
    assert here.manager.store.memory.session(key) is None
    await here.say("next")
    assert here.responder.titles == [None, "Plans"]


async def test_commands_that_only_read_leave_the_next_context_whole(here: Worker) -> None:
    await here.say("one")
    await here.say("/history")
    await here.say("/checkpoint save mark")
    await here.say("/session")
    await here.say("two")
    assert here.responder.contexts[-1] == ["one", "re: one", "two"]


async def test_a_command_shows_what_another_worker_changed(here: Worker, there: Worker) -> None:
    await here.say("hello")
    await there.say("/session title Trip")
    assert "Trip" in await here.say("/session")


async def test_history_shows_another_worker_s_messages(here: Worker, there: Worker) -> None:
    await here.say("one")
    await there.say("two")
    assert (await here.say("/history")).splitlines()[1:] == [
        "[2026-05-01 10:00] alice: one",
        "[2026-05-01 10:00] sessionbot: re: one",
        "[2026-05-01 10:00] alice: two",
        "[2026-05-01 10:00] sessionbot: re: two",
    ]


async def test_history_here_is_the_history_another_worker_reads(
    here: Worker, there: Worker
) -> None:
    """Whatever this worker remembers of the conversation, ``/history`` shows the store."""
    for n in range(15):
        await here.say(f"m{n}")
    for count in (5, 29, 30, 31):
        shown = await here.say(f"/history {count}")
        assert shown == await there.say(f"/history {count}")
    assert (await here.say("/history 5")).splitlines()[0] == "Last 5 of 30 (times in UTC):"
    assert (await here.say("/history 5")).splitlines()[-1].endswith("sessionbot: re: m14")
