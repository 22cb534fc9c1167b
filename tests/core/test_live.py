"""``core/live.py``: the bounded memory of conversations in progress."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import types
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core.storage.live
from core.clock import ManualClock
from core.errors import StaleSessionError
from core.ids import new_id
from core.models import (
    ArchiveReason,
    ChannelSettings,
    Inbound,
    Message,
    NewMessage,
    Role,
    Session,
    SessionStatus,
)
from core.sessions.context_window import context_history
from core.sessions.manager import SessionManager
from core.sessions.resets import ResetRules
from core.storage.live import LiveSessions
from core.storage.memory import MemoryStore
from tests.builders import assistant_message, inbound, user_message
from tests.core.test_store_contract import T0, make_session


def conversation(scope_key: str = "console:c:c1:u:alice") -> Session:
    return make_session(scope_key)[0]


def message(session: Session, seq: int, content: str = "abcd", *, branch: str = "") -> Message:
    """A stored message of ``session`` (four characters: one token, by default)."""
    return Message(
        id=new_id(16),
        session_id=session.id,
        branch_id=branch or session.head_branch_id,
        seq=seq,
        role=Role.USER,
        author="alice",
        content=content,
        created_at=T0,
    )


def at_seq(session: Session, count: int, *, head: str = "") -> Session:
    """``session`` as it is once its history ends at ``count`` (on ``head``)."""
    return dataclasses.replace(
        session, message_count=count, head_branch_id=head or session.head_branch_id
    )


def with_window(live: LiveSessions, count: int, budget: int = 100) -> tuple[Session, list[Message]]:
    """Keep a session whose last reply's context was its ``count`` messages."""
    session = at_seq(conversation(), count)
    context = [message(session, seq, f"m{seq:03d}") for seq in range(1, count + 1)]
    live.keep(session)
    live.keep_window(session, context, budget)
    return session, context


# -- capacity -------------------------------------------------------------------


def test_keeping_past_capacity_drops_the_least_recently_used() -> None:
    live = LiveSessions(2)
    first, second, third = (conversation(f"k{n}") for n in range(3))
    for session in (first, second, third):
        live.keep(session)
    assert len(live) == 2
    assert live.session("k0") is None
    assert live.session("k1") == second and live.session("k2") == third


def test_reading_a_session_makes_it_the_most_recently_used() -> None:
    live = LiveSessions(2)
    first, second, third = (conversation(f"k{n}") for n in range(3))
    live.keep(first)
    live.keep(second)
    assert live.session("k0") == first
    live.keep(third)
    assert live.session("k1") is None
    assert live.session("k0") == first and live.session("k2") == third


def test_keeping_a_session_again_refreshes_it_in_place() -> None:
    live = LiveSessions(2)
    first, second, third = (conversation(f"k{n}") for n in range(3))
    live.keep(first)
    live.keep(second)
    moved_on = at_seq(first, 4)
    live.keep(moved_on)
    live.keep(third)
    assert len(live) == 2
    assert live.session("k0") == moved_on and live.session("k1") is None


def test_a_round_a_little_larger_than_the_memory_mostly_finds_it() -> None:
    # 101 conversations taking turns with room for 100: strict least-recently-used
    # order would drop each one just before it speaks again, every time.
    live = LiveSessions(100, rng=random.Random(7))
    sessions = [conversation(f"k{n}") for n in range(101)]
    misses = 0
    for _ in range(20):
        for session in sessions:
            if live.session(session.scope_key) is None:
                misses += 1
                live.keep(session)
    assert len(live) == 100
    assert misses < 101 + 19 * 101 // 10


def test_a_conversation_in_constant_use_is_never_dropped() -> None:
    live = LiveSessions(10, rng=random.Random(3))
    hot = conversation("hot")
    live.keep(hot)
    for n in range(1_000):
        live.keep(conversation(f"k{n}"))
        assert live.session("hot") == hot


def test_forgetting_keeps_every_other_conversation_findable() -> None:
    live = LiveSessions(50, rng=random.Random(5))
    sessions = {f"k{n}": conversation(f"k{n}") for n in range(50)}
    for session in sessions.values():
        live.keep(session)
    for n in range(0, 50, 3):
        live.forget(f"k{n}")
        del sessions[f"k{n}"]
    assert len(live) == len(sessions)
    assert all(live.session(key) == session for key, session in sessions.items())
    for n in range(100, 200):
        live.keep(conversation(f"k{n}"))
    assert len(live) == 50


def test_capacity_zero_remembers_nothing() -> None:
    live = LiveSessions(0)
    session = conversation()
    live.keep(session)
    live.keep_settings("console:c:c1", None)
    context = [message(session, 1)]
    live.keep_window(at_seq(session, 1), context, 100)
    assert len(live) == 0
    assert live.session(session.scope_key) is None
    assert live.settings("console:c:c1") == (False, None)
    assert live.window(at_seq(session, 1), 100) is None


def test_a_negative_capacity_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 0"):
        LiveSessions(-1)


def test_an_archived_session_is_not_kept() -> None:
    live = LiveSessions(10)
    session = conversation()
    live.keep(dataclasses.replace(session, status=SessionStatus.ARCHIVED))
    assert live.session(session.scope_key) is None


def test_a_new_session_of_a_key_replaces_the_old_one() -> None:
    live = LiveSessions(10)
    old, new = conversation(), conversation()
    live.keep(old)
    live.keep(new)
    assert len(live) == 1 and live.session(new.scope_key) == new
    live.forget_session(old.id)  # the old id no longer names the key's conversation
    assert live.session(new.scope_key) == new


def test_forget_session_drops_by_session_id() -> None:
    live = LiveSessions(10)
    alice, bob = conversation("k-alice"), conversation("k-bob")
    live.keep(alice)
    live.keep(bob)
    live.forget_session(alice.id)
    live.forget_session("no-such-session")
    assert live.session("k-alice") is None
    assert live.session("k-bob") == bob
    live.keep(alice)
    assert live.session("k-alice") == alice


def test_clear_drops_sessions_windows_and_settings() -> None:
    live = LiveSessions(10)
    session, _ = with_window(live, 3)
    live.keep_settings("console:c:c1", None)
    live.clear()
    assert len(live) == 0
    assert live.window(session, 100) is None
    assert live.settings("console:c:c1") == (False, None)


# -- channel settings -------------------------------------------------------------


class FakeMonotonic:
    """Stands in for ``time`` in ``core.storage.live``, so a TTL passes without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    fake = FakeMonotonic()
    monkeypatch.setattr(core.storage.live, "time", types.SimpleNamespace(monotonic=fake.monotonic))
    return fake


def settings_of(channel_key: str) -> ChannelSettings:
    return ChannelSettings(channel_key=channel_key, updated_at=T0, idle_reset_minutes=5)


def test_settings_are_known_until_their_ttl_passes(monotonic: FakeMonotonic) -> None:
    live = LiveSessions(10, settings_ttl=5.0)
    stored = settings_of("console:c:c1")
    live.keep_settings("console:c:c1", stored)
    monotonic.now += 4.9
    assert live.settings("console:c:c1") == (True, stored)
    monotonic.now += 0.2
    assert live.settings("console:c:c1") == (False, None)


def test_settings_with_a_zero_ttl_are_read_again(monotonic: FakeMonotonic) -> None:
    live = LiveSessions(10, settings_ttl=0)
    live.keep_settings("console:c:c1", settings_of("console:c:c1"))
    monotonic.now += 1e-6
    assert live.settings("console:c:c1") == (False, None)


def test_no_overrides_are_remembered_as_known() -> None:
    live = LiveSessions(10)
    assert live.settings("console:c:c1") == (False, None)
    live.keep_settings("console:c:c1", None)
    assert live.settings("console:c:c1") == (True, None)


def test_forgotten_settings_are_read_again() -> None:
    live = LiveSessions(10)
    live.keep_settings("console:c:c1", settings_of("console:c:c1"))
    live.keep_settings("console:c:c2", None)
    live.forget_settings("console:c:c1")
    live.forget_settings("console:c:never-seen")
    assert live.settings("console:c:c1") == (False, None)
    assert live.settings("console:c:c2") == (True, None)


# -- context windows ----------------------------------------------------------------


def test_a_kept_window_is_served_as_kept() -> None:
    live = LiveSessions(10)
    session, context = with_window(live, 3)
    assert live.window(session, 100) == context


def test_no_window_before_one_is_kept() -> None:
    live = LiveSessions(10)
    session = conversation()
    live.keep(session)
    assert live.window(session, 100) is None


def test_messages_directly_following_extend_the_window() -> None:
    live = LiveSessions(10)
    session, context = with_window(live, 3)
    more = [message(session, 4, "next"), message(session, 5, "then")]
    after = at_seq(session, 5)
    live.appended(session.id, more)
    assert live.session(session.scope_key) == after
    assert live.window(after, 100) == context + more


def test_a_seq_gap_drops_the_window() -> None:
    """Another worker wrote seq 4: the window no longer ends where the history does."""
    live = LiveSessions(10)
    session, _ = with_window(live, 3)
    after = at_seq(session, 5)
    live.appended(session.id, [message(session, 5)])
    assert live.window(after, 100) is None


def test_messages_on_another_branch_drop_the_window() -> None:
    live = LiveSessions(10)
    session, _ = with_window(live, 3)
    fork = new_id(10)
    after = at_seq(session, 4, head=fork)
    live.appended(session.id, [message(session, 4, branch=fork)])
    assert live.window(after, 100) is None


def test_another_budget_is_not_served() -> None:
    live = LiveSessions(10)
    session, context = with_window(live, 3, budget=100)
    assert live.window(session, 99) is None
    assert live.window(session, 100) == context


@pytest.mark.parametrize(
    "differs",
    [
        pytest.param(lambda s: at_seq(s, s.message_count + 1), id="message-count"),
        pytest.param(lambda s: at_seq(s, s.message_count, head=new_id(10)), id="head"),
        pytest.param(lambda s: dataclasses.replace(s, id=new_id(10)), id="session-id"),
    ],
)
def test_a_session_in_another_state_is_not_served(differs: Callable[[Session], Session]) -> None:
    live = LiveSessions(10)
    session, _ = with_window(live, 3)
    assert live.window(differs(session), 100) is None


def test_a_context_read_for_another_state_is_not_kept() -> None:
    live = LiveSessions(10)
    session = conversation()
    live.keep(session)
    stale = [message(session, 1), message(session, 2)]
    live.keep_window(at_seq(session, 3), stale, 100)
    assert live.window(at_seq(session, 3), 100) is None
    assert live.window(at_seq(session, 2), 100) is None


def test_the_window_drops_what_no_longer_fits_and_keeps_the_newest() -> None:
    live = LiveSessions(10)
    session, context = with_window(live, 3, budget=3)  # three one-token messages
    longer = message(session, 4, "x" * 8)  # two tokens
    fourth = at_seq(session, 4)
    live.appended(session.id, [longer])
    assert live.window(fourth, 3) == [context[2], longer]
    huge = message(session, 5, "y" * 400)
    fifth = at_seq(session, 5)
    live.appended(fourth.id, [huge])
    assert live.window(fifth, 3) == [huge]


# -- the remembered window is the context read from the store -------------------------

SOMEONE = inbound()
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["here", "here", "here", "there-appends", "there-forks", "there-clears"]),
        st.integers(0, 120),
        st.integers(0, 120),
    ),
    min_size=1,
    max_size=30,
)


async def context_as_the_router_builds_it(
    here: SessionManager, user_chars: int, answer_chars: int, budget: int
) -> tuple[list[Message], bool, Session]:
    """Store a user message as the router does; return its context, whether it was remembered."""
    session = (await here.resolve(SOMEONE, remembered=True)).session
    try:
        session, _ = await here.history.record(
            session, user_message("u" * user_chars), only_if_current=True
        )
    except StaleSessionError:
        session = (await here.resolve(SOMEONE)).session
        session, _ = await here.history.record(
            session, user_message("u" * user_chars), only_if_current=True
        )
    remembered = here.store.memory.window(session, budget) is not None
    context = await context_history(here, session, budget)
    await here.history.append(session, assistant_message("a" * answer_chars))
    return context, remembered, session


async def another_worker(there: SessionManager, step: str, chars: int) -> None:
    session = (await there.resolve(SOMEONE)).session
    if step == "there-appends":
        await there.history.append(
            session, user_message("t" * chars), assistant_message("r" * chars)
        )
    elif step == "there-forks":
        mark = await there.checkpoints.save(session, "here", by="console:alice")
        await there.checkpoints.restore(session, mark.id, by="console:alice")
    else:
        await there.checkpoints.clear(session, by="console:alice")


async def compare_windows(budget: int, steps: list[tuple[str, int, int]]) -> None:
    store, clock = MemoryStore(), ManualClock()
    here = SessionManager(store, clock=clock)
    there = SessionManager(store, clock=clock, live_conversations=0)
    reader = SessionManager(store, clock=clock, live_conversations=0)
    previous = ""
    for step, first_chars, second_chars in steps:
        if step != "here":
            await another_worker(there, step, first_chars)
        else:
            context, remembered, session = await context_as_the_router_builds_it(
                here, first_chars, second_chars, budget
            )
            assert context == await context_history(reader, session, budget)
            # Served from memory exactly when nobody else wrote since this worker's last reply.
            assert remembered == (previous == "here")
        previous = step


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(budget=st.integers(1, 80), steps=STEPS)
def test_the_remembered_window_is_the_context_read_from_the_store(
    budget: int, steps: list[tuple[str, int, int]]
) -> None:
    asyncio.run(compare_windows(budget, steps))


async def test_an_archived_conversation_is_forgotten_by_the_manager() -> None:
    manager = SessionManager(MemoryStore(), clock=ManualClock())
    session = (await manager.resolve(SOMEONE)).session
    assert manager.store.memory.session(session.scope_key) == session
    await manager.sessions.archive(session, ArchiveReason.NEW)
    assert manager.store.memory.session(session.scope_key) is None


# -- the manager keeps its memory true to its own changes ----------------------------


async def archive(manager: SessionManager, session: Session) -> None:
    await manager.sessions.archive(session, ArchiveReason.NEW)


async def retitle(manager: SessionManager, session: Session) -> None:
    await manager.sessions.update(session, title="renamed")


async def delete(manager: SessionManager, session: Session) -> None:
    await manager.sessions.delete(session.id)


async def clear(manager: SessionManager, session: Session) -> None:
    await manager.checkpoints.clear(session, by="console:alice")


async def restore(manager: SessionManager, session: Session) -> None:
    mark = await manager.checkpoints.save(session, "mark", by="console:alice")
    await manager.checkpoints.restore(session, mark.id, by="console:alice")


async def start_new(manager: SessionManager, session: Session) -> None:
    await manager.sessions.start_new(SOMEONE, ArchiveReason.NEW)


async def resume_another(manager: SessionManager, session: Session) -> None:
    await manager.sessions.start_new(SOMEONE, ArchiveReason.NEW)
    await manager.resolve(SOMEONE)  # remember the newest session again
    await manager.sessions.resume((await manager.place(SOMEONE)).key, session.id)


async def sweep_idle(manager: SessionManager, session: Session) -> None:
    clock = manager.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(minutes=31))
    assert [s.id for s in await manager.maintenance.archive_idle_sessions()] == [session.id]


@pytest.mark.parametrize(
    "change",
    [archive, retitle, delete, clear, restore, start_new, resume_another, sweep_idle],
)
async def test_a_change_through_the_manager_leaves_nothing_stale_in_memory(
    change: Callable[[SessionManager, Session], Awaitable[None]],
) -> None:
    manager = SessionManager(
        MemoryStore(), clock=ManualClock(), reset_rules=ResetRules(idle_reset_minutes=30)
    )
    session = (await manager.resolve(SOMEONE)).session
    session, _ = await manager.history.record(session, user_message("hi"), only_if_current=True)
    await context_history(manager, session, 100)
    assert manager.store.memory.window(session, 100) is not None
    await change(manager, session)
    # What is remembered afterwards is nothing, or exactly what the store holds now;
    # never the conversation as it was.
    remembered = manager.store.memory.session(session.scope_key)
    assert remembered is None or remembered == await manager.store.inner.get_active_session(
        session.scope_key
    )
    assert manager.store.memory.window(session, 100) is None


async def test_changed_channel_settings_are_known_at_once() -> None:
    manager = SessionManager(MemoryStore(), clock=ManualClock())
    placement = await manager.place(SOMEONE, remembered=True)
    assert placement.settings is None
    stored = await manager.channels.update(SOMEONE, idle_reset_minutes=7)
    assert manager.store.memory.settings(placement.channel_key) == (True, stored)
    assert (await manager.place(SOMEONE, remembered=True)).settings == stored


async def test_appends_without_replies_keep_the_window_within_its_budget() -> None:
    """A plugin appending many messages in a row must not grow the memory without end."""
    manager = SessionManager(MemoryStore(), clock=ManualClock())
    session = (await manager.resolve(Inbound("console", "c", "u", "x"))).session
    session, _ = await manager.history.record(session, NewMessage(Role.USER, "u", "first"))
    await context_history(manager, session, max_tokens=20)
    for i in range(200):
        session, _ = await manager.history.record(session, NewMessage(Role.USER, "u", f"{i:04d}"))
    conversation = manager.store.memory._by_key[session.scope_key]
    assert conversation.window is not None and len(conversation.window) == 20
    assert [m.content for m in await context_history(manager, session, max_tokens=20)] == [
        f"{i:04d}" for i in range(180, 200)
    ]
