from __future__ import annotations

import asyncio
import dataclasses
import itertools
from datetime import timedelta

import pytest

from core.clock import ManualClock
from core.errors import NotFoundError
from core.ids import looks_like_id
from core.models import ArchiveReason, Inbound, Message, NewMessage, Role, Session
from core.sessions.export import ExportFormat, export_session
from core.sessions.imports import parse_export
from core.sessions.manager import SessionManager
from core.sessions.scope import Scope
from core.storage.memory import MemoryStore
from core.storage.protocols import SessionFilter


def inbound(text: str = "hi", *, user: str = "alice", channel: str = "c1") -> Inbound:
    return Inbound(platform="console", channel_id=channel, user_id=user, text=text)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def manager(clock: ManualClock) -> SessionManager:
    return SessionManager(MemoryStore(), clock=clock)


async def say(manager: SessionManager, session: Session, *texts: str) -> Session:
    for text in texts:
        await manager.history.append(session, NewMessage(Role.USER, "alice", text))
    return await manager.sessions.get(session.id)


async def contents(manager: SessionManager, session: Session) -> list[str]:
    return [
        m.content
        for m in await manager.history.all_messages(await manager.sessions.get(session.id))
    ]


async def test_resolve_creates_one_session_per_scope_key(manager: SessionManager) -> None:
    first = await manager.resolve(inbound(user="alice"))
    again = await manager.resolve(inbound(user="alice"))
    other = await manager.resolve(inbound(user="bob"))
    assert first.session.id == again.session.id
    assert other.session.id != first.session.id
    assert first.key.value == "console:c:c1:u:alice"
    assert first.session.owner == "console:alice"


async def test_start_new_archives_the_current_session(manager: SessionManager) -> None:
    old = (await manager.resolve(inbound())).session
    new, archived = await manager.sessions.start_new(inbound(), ArchiveReason.NEW, title="plans")
    assert archived is not None and archived.id == old.id
    stored = await manager.sessions.get(old.id)
    assert stored.archive_reason is ArchiveReason.NEW and not stored.is_active
    assert new.title == "plans" and new.is_active
    assert (await manager.resolve(inbound())).session.id == new.id


async def test_append_counts_and_activity(manager: SessionManager, clock: ManualClock) -> None:
    session = (await manager.resolve(inbound())).session
    created = session.last_activity_at
    clock.advance(timedelta(minutes=5))
    await manager.history.append(session, NewMessage(Role.USER, "alice", "question"))
    clock.advance(timedelta(minutes=5))
    await manager.history.append(
        session, NewMessage(Role.ASSISTANT, "bot", "answer", tokens_in=7, tokens_out=3)
    )
    stored = await manager.sessions.get(session.id)
    assert stored.message_count == 2
    assert (stored.tokens_in, stored.tokens_out) == (7, 3)
    # Only the user's message counts as activity; the reply five minutes later does not.
    assert stored.last_activity_at == created + timedelta(minutes=5)
    assert stored.updated_at == created + timedelta(minutes=10)


async def test_history_pages_with_cursors(manager: SessionManager) -> None:
    session = (await manager.resolve(inbound())).session
    session = await say(manager, session, *[f"m{i}" for i in range(1, 8)])
    last = await manager.history.page(session, limit=3)
    assert [m.content for m in last.messages] == ["m5", "m6", "m7"]
    assert last.has_more
    older = await manager.history.page(session, limit=3, before=last.messages[0].id)
    assert [m.content for m in older.messages] == ["m2", "m3", "m4"] and older.has_more
    oldest = await manager.history.page(session, limit=3, before=older.messages[0].id)
    assert [m.content for m in oldest.messages] == ["m1"] and not oldest.has_more
    newer = await manager.history.page(session, limit=4, after=oldest.messages[0].id)
    assert [m.content for m in newer.messages] == ["m2", "m3", "m4", "m5"] and newer.has_more
    tail = await manager.history.page(session, limit=2, after=newer.messages[-1].id)
    assert [m.content for m in tail.messages] == ["m6", "m7"] and not tail.has_more
    exact = await manager.history.page(session, limit=7)
    assert len(exact.messages) == 7 and not exact.has_more


async def test_history_cursor_from_another_session_is_not_found(manager: SessionManager) -> None:
    mine = await say(manager, (await manager.resolve(inbound())).session, "a")
    theirs = await say(manager, (await manager.resolve(inbound(user="bob"))).session, "b")
    foreign = (await manager.history.page(theirs)).messages[0].id
    with pytest.raises(NotFoundError):
        await manager.history.page(mine, before=foreign)
    with pytest.raises(NotFoundError):
        await manager.history.page(mine, after="nosuchid")


async def test_restore_goes_back_and_can_be_undone(manager: SessionManager) -> None:
    session = await say(manager, (await manager.resolve(inbound())).session, "a", "b")
    checkpoint = await manager.checkpoints.save(session, "two", by="console:alice")
    session = await say(manager, session, "c", "d")
    restored, _, undo = await manager.checkpoints.restore(
        session, checkpoint.id, by="console:alice"
    )
    assert restored.message_count == 2 and undo.auto and undo.seq == 4
    assert await contents(manager, restored) == ["a", "b"]
    restored = await say(manager, restored, "e")
    assert await contents(manager, restored) == ["a", "b", "e"]
    back, _, _ = await manager.checkpoints.restore(restored, undo.id, by="console:alice")
    assert await contents(manager, back) == ["a", "b", "c", "d"]


async def test_checkpoint_of_a_checkpoint_inside_an_ancestor(manager: SessionManager) -> None:
    session = await say(manager, (await manager.resolve(inbound())).session, "a", "b", "c")
    one = await manager.checkpoints.save(session, "one", by="u")
    session, _, _ = await manager.checkpoints.restore(session, one.id, by="u")
    # Saved on a branch that has no messages of its own yet: seq lies in the parent.
    again = await manager.checkpoints.save(session, "again", by="u")
    session = await say(manager, session, "x")
    session, _, _ = await manager.checkpoints.restore(session, again.id, by="u")
    assert await contents(manager, session) == ["a", "b", "c"]


async def test_clear_keeps_session_and_checkpoints(manager: SessionManager) -> None:
    session = await say(manager, (await manager.resolve(inbound())).session, "a")
    kept = await manager.checkpoints.save(session, "kept", by="u")
    cleared, undo = await manager.checkpoints.clear(session, by="u")
    assert cleared.id == session.id and cleared.message_count == 0
    assert (await manager.history.page(cleared)).messages == ()
    assert undo is not None
    assert {c.id for c in await manager.checkpoints.list(cleared)} == {kept.id, undo.id}
    back, _, _ = await manager.checkpoints.restore(cleared, undo.id, by="u")
    assert await contents(manager, back) == ["a"]


async def test_checkpoint_ids_are_checked_against_the_session(manager: SessionManager) -> None:
    mine = (await manager.resolve(inbound())).session
    theirs = (await manager.resolve(inbound(user="bob"))).session
    foreign = await manager.checkpoints.save(theirs, "theirs", by="console:bob")
    with pytest.raises(NotFoundError) as unknown:
        await manager.checkpoints.restore(mine, "nosuchid", by="console:alice")
    with pytest.raises(NotFoundError) as other:
        await manager.checkpoints.restore(mine, foreign.id, by="console:alice")
    # The same words for both, so an error never confirms that a foreign id exists.
    assert str(unknown.value).replace("nosuchid", "X") == str(other.value).replace(foreign.id, "X")
    with pytest.raises(NotFoundError):
        await manager.checkpoints.delete(mine, foreign.id)
    assert await manager.checkpoints.list(theirs) == [foreign]


async def test_branch_starts_a_session_from_a_checkpoint(manager: SessionManager) -> None:
    session = await say(manager, (await manager.resolve(inbound())).session, "a", "b")
    checkpoint = await manager.checkpoints.save(session, "fork", by="u")
    await say(manager, session, "c")
    branched = await manager.checkpoints.branch(inbound(), session, checkpoint.id, title="alt")
    assert branched.id != session.id and branched.title == "alt"
    assert (await manager.sessions.get(session.id)).archive_reason is ArchiveReason.BRANCHED
    branched = await say(manager, branched, "z")
    assert await contents(manager, branched) == ["a", "b", "z"]
    assert await contents(manager, session) == ["a", "b", "c"]


async def test_deleting_the_origin_of_a_branch_keeps_the_branch_whole(
    manager: SessionManager,
) -> None:
    session = await say(manager, (await manager.resolve(inbound())).session, "a", "b")
    checkpoint = await manager.checkpoints.save(session, "fork", by="u")
    branched = await manager.checkpoints.branch(inbound(), session, checkpoint.id)
    branched = await say(manager, branched, "z")
    assert await manager.sessions.delete(session.id)
    assert await contents(manager, branched) == ["a", "b", "z"]
    with pytest.raises(NotFoundError):
        await manager.sessions.get(session.id)


async def test_resume_checks_scope_and_displaces_current(manager: SessionManager) -> None:
    old = (await manager.resolve(inbound())).session
    new, _ = await manager.sessions.start_new(inbound(), ArchiveReason.RESET)
    key = await manager.key_for(inbound())
    resumed, displaced = await manager.sessions.resume(key, old.id)
    assert resumed.is_active and displaced is not None and displaced.id == new.id
    assert (await manager.sessions.get(new.id)).archive_reason is ArchiveReason.RESUMED
    bob_key = await manager.key_for(inbound(user="bob"))
    with pytest.raises(NotFoundError):
        await manager.sessions.resume(bob_key, old.id)


async def test_channel_scope_override_shares_a_session(manager: SessionManager) -> None:
    await manager.channels.set_scope(inbound(), Scope.CHANNEL)
    alice = await manager.resolve(inbound(user="alice"))
    bob = await manager.resolve(inbound(user="bob"))
    assert alice.session.id == bob.session.id
    assert alice.key.value == "console:c:c1"
    elsewhere = await manager.resolve(inbound(user="bob", channel="c2"))
    assert elsewhere.session.id != alice.session.id


async def test_update_title_tags_metadata(manager: SessionManager) -> None:
    session = (await manager.resolve(inbound())).session
    updated = await manager.sessions.update(session, title="t", tags=["x", "y"], metadata={"k": 1})
    assert (updated.title, updated.tags, dict(updated.metadata)) == ("t", ("x", "y"), {"k": 1})
    again = await manager.sessions.update(updated, title="u")
    assert again.tags == ("x", "y")


async def test_cleanup_respects_retention_and_checkpoints(
    manager: SessionManager, clock: ManualClock
) -> None:
    plain = (await manager.resolve(inbound(user="a"))).session
    marked = (await manager.resolve(inbound(user="b"))).session
    await manager.checkpoints.save(marked, "keep me", by="u")
    await manager.sessions.archive(plain, ArchiveReason.RESET)
    await manager.sessions.archive(marked, ArchiveReason.RESET)
    clock.advance(timedelta(days=10))
    recent = (await manager.resolve(inbound(user="c"))).session
    await manager.sessions.archive(recent, ArchiveReason.RESET)
    assert await manager.maintenance.cleanup(timedelta(days=7), keep_checkpointed=True) == 1
    with pytest.raises(NotFoundError):
        await manager.sessions.get(plain.id)
    assert (await manager.sessions.get(marked.id)).id == marked.id
    assert await manager.maintenance.cleanup(timedelta(days=7), keep_checkpointed=False) == 1
    assert (await manager.sessions.get(recent.id)).id == recent.id


async def test_export_json_reimports(manager: SessionManager) -> None:
    session = (await manager.resolve(inbound())).session
    session = await manager.sessions.update(session, title="trip", tags=["travel"])
    session = await say(manager, session, "first", "second line\nwith break")
    await manager.checkpoints.save(session, "mid", "the middle", by="u")
    exported = export_session(
        session,
        await manager.history.all_messages(session),
        await manager.checkpoints.list(session),
        ExportFormat.JSON,
    )
    imported = await manager.maintenance.import_export(
        parse_export(exported.content),
        scope_key=session.scope_key,
        owner="console:alice",
        platform="console",
        channel_id="c1",
    )
    assert imported.id != session.id and not imported.is_active
    assert imported.archive_reason is ArchiveReason.IMPORTED
    assert (imported.title, imported.tags) == ("trip", ("travel",))
    assert await contents(manager, imported) == ["first", "second line\nwith break"]
    [checkpoint] = await manager.checkpoints.list(imported)
    assert (checkpoint.name, checkpoint.seq) == ("mid", 2)
    listed = await manager.sessions.list(SessionFilter(scope_key=session.scope_key))
    assert {s.id for s in listed} == {session.id, imported.id}


async def test_the_session_after_an_append_keeps_every_other_field(
    manager: SessionManager, clock: ManualClock
) -> None:
    """record() builds the session after an append by hand: no field may be dropped."""
    session = (await manager.resolve(inbound())).session
    session = await manager.sessions.update(
        session, title="plans", tags=("a", "b"), metadata={"k": "v"}
    )
    clock.advance(timedelta(minutes=3))
    after, [stored] = await manager.history.record(
        session, NewMessage(Role.ASSISTANT, "bot", "ok", tokens_in=5, tokens_out=7)
    )
    changed = {"message_count", "updated_at", "tokens_in", "tokens_out"}
    for field in dataclasses.fields(Session):
        if field.name not in changed:
            assert getattr(after, field.name) == getattr(session, field.name), field.name
    assert (after.message_count, after.tokens_in, after.tokens_out) == (1, 5, 7)
    assert after.updated_at == stored.created_at == clock.now()
    assert after.last_activity_at == session.last_activity_at  # answers keep no one active
    assert after == await manager.sessions.get(session.id)  # what the store holds


async def test_message_ids_sort_by_creation_time(
    manager: SessionManager, clock: ManualClock
) -> None:
    session = (await manager.resolve(inbound())).session
    ids = []
    for n in range(5):
        [stored] = await manager.history.append(session, NewMessage(Role.USER, "alice", f"m{n}"))
        ids.append(stored.id)
        clock.advance(timedelta(milliseconds=1))  # ids carry the clock's millisecond
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert all(looks_like_id(i) and len(i) == 20 for i in ids)


class _ReadLog(MemoryStore):
    """A store that notes each message read in a shared log."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    async def read_messages(
        self,
        branch_id: str,
        *,
        min_seq: int = 1,
        max_seq: int | None = None,
        limit: int,
        newest_first: bool,
    ) -> list[Message]:
        self.log.append("read")
        return await super().read_messages(
            branch_id, min_seq=min_seq, max_seq=max_seq, limit=limit, newest_first=newest_first
        )


async def test_reading_a_long_history_lets_other_conversations_run() -> None:
    # A SQLite read never suspends: an export must give the loop a turn between
    # chunks, or every other conversation waits for the whole history.
    log: list[str] = []
    manager = SessionManager(_ReadLog(log))
    session = (await manager.resolve(inbound())).session
    for start in range(0, 1_200, 100):
        await manager.history.append(
            session, *(NewMessage(Role.USER, "alice", f"m{i}") for i in range(start, start + 100))
        )
    session = await manager.sessions.get(session.id)
    stop = asyncio.Event()

    async def other_conversation() -> None:
        while not stop.is_set():
            log.append("other")
            await asyncio.sleep(0)

    log.clear()
    other = asyncio.create_task(other_conversation())
    await asyncio.sleep(0)
    messages = await manager.history.all_messages(session)
    stop.set()
    await other
    assert [m.content for m in messages] == [f"m{i}" for i in range(1_200)]
    reads = [i for i, event in enumerate(log) if event == "read"]
    assert len(reads) > 2
    assert all("other" in log[a:b] for a, b in itertools.pairwise(reads))
