"""The contract every :class:`core.storage.protocols.Store` backend keeps.

One class, run against each backend of the parametrized ``backend`` fixture
(``tests/core/conftest.py``: memory, SQLite on a real file, and PostgreSQL when
``SESSIONBOT_TEST_POSTGRES_URL`` is set), each bare, under the sealing layer, and under
the sealing and caching layers as the bot stacks them: a layer must keep every promise
the protocol makes. The keyring, which only the sealing layer uses, is checked on the
bare backends.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from core.api_keys import new_api_key, parse_api_key, secret_matches
from core.crypto.envelope import KeyEncryptionKey, decode_master_key, generate_master_key
from core.crypto.sealing import SealedStore
from core.errors import ConflictError, StaleSessionError
from core.ids import new_id, new_ordered_ids
from core.models import (
    ArchiveReason,
    Branch,
    ChannelSettings,
    Checkpoint,
    Message,
    NewMessage,
    Role,
    Session,
    SessionStatus,
)
from core.sessions.resets import ResetOverride, ResetRules, RuleSelector
from core.storage.caching import CachingStore
from core.storage.filters import SessionOrder
from core.storage.keyring import KeyringEntry
from core.storage.message_times import TICK
from core.storage.protocols import Backend, SessionFilter, Store, SweepPlan
from core.storage.search import BlindTerms, TextSearch

# Microseconds on purpose: they must survive every backend.
T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


LAYERS = ("bare", "sealed", "sealed-and-cached")


@pytest.fixture(params=LAYERS)
async def store(request: pytest.FixtureRequest, backend: Backend) -> Store:
    """The backend, bare or under the layers the bot puts around it."""
    if request.param == "bare":
        return backend
    key = decode_master_key(generate_master_key(), source="test")
    sealed = SealedStore(backend, KeyEncryptionKey(key))
    await sealed.check_key()
    return sealed if request.param == "sealed" else CachingStore(sealed, 100)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def make_session(
    scope_key: str = "console:c:c1:u:alice",
    *,
    created: datetime = T0,
    status: SessionStatus = SessionStatus.ACTIVE,
    platform: str = "console",
    channel_id: str = "c1",
    session_id: str | None = None,
    **fields: object,
) -> tuple[Session, Branch]:
    session_id = session_id or new_id(10)
    root = Branch(new_id(10), session_id, None, 0, 0, created)
    session = Session(
        id=session_id,
        scope_key=scope_key,
        status=status,
        owner="console:alice",
        platform=platform,
        channel_id=channel_id,
        head_branch_id=root.id,
        created_at=created,
        updated_at=created,
        last_activity_at=created,
        channel_key=f"{platform}:c:{channel_id}",
    )
    return dataclasses.replace(session, **fields), root  # type: ignore[arg-type]


async def start(store: Store, scope_key: str = "console:c:c1:u:alice", **fields: object) -> Session:
    session, root = make_session(scope_key, **fields)  # type: ignore[arg-type]
    return await store.start_session(session, root)


def _daily(
    rules: ResetRules, now: datetime, schedule: tuple[str, str] = ("04:00", "UTC")
) -> SweepPlan:
    plan = rules.daily_sweep(schedule, now)
    assert plan is not None
    return plan


def user(text: str) -> NewMessage:
    return NewMessage(Role.USER, "alice", text)


def bot(text: str, tokens_in: int = 0, tokens_out: int = 0) -> NewMessage:
    return NewMessage(Role.ASSISTANT, "bot", text, tokens_in=tokens_in, tokens_out=tokens_out)


async def append(
    store: Store, session: Session, *messages: NewMessage, when: datetime = T0
) -> list[Message]:
    # As core makes them: ids that sort by the time they were made.
    ids = new_ordered_ids(len(messages), millis=int(when.timestamp() * 1000))
    return await store.append_messages(session.id, messages, ids, when)


async def fill(store: Store, session: Session, count: int) -> list[Message]:
    return await append(store, session, *(user(f"m{n}") for n in range(1, count + 1)))


def checkpoint(
    session: Session, *, seq: int = 0, auto: bool = False, created: datetime = T0, name: str = "cp"
) -> Checkpoint:
    return Checkpoint(
        id=new_id(10),
        session_id=session.id,
        branch_id=session.head_branch_id,
        seq=seq,
        name=name,
        created_by="console:alice",
        created_at=created,
        description="a point",
        auto=auto,
    )


def is_aware_utc(when: datetime | None) -> bool:
    return when is not None and when.utcoffset() == timedelta(0)


class TestStoreContract:
    # -- sessions -------------------------------------------------------------

    async def test_a_started_session_round_trips_every_field(self, store: Store) -> None:
        session, root = make_session(
            title="Plans ✈",
            tags=("work", "été"),
            metadata={"lang": "fr", "nested": {"n": [1, 2.5, None, True]}},
            tokens_in=7,
            tokens_out=9,
            message_count=0,
            is_direct=True,
        )
        assert await store.start_session(session, root) == session
        assert await store.get_session(session.id) == session
        assert await store.get_active_session(session.scope_key) == session
        assert await store.get_branch(root.id) == root

    async def test_missing_ids_give_empty_answers(self, store: Store) -> None:
        session, branch = make_session()
        assert await store.get_session("nope") is None
        assert await store.get_active_session("nobody") is None
        assert await store.archive_session("nope", ArchiveReason.NEW, T0) is False
        assert (
            await store.activate_session("nope", T0, displaced_reason=ArchiveReason.RESUMED) is None
        )
        assert await store.update_session("nope", T0, title="x") is None
        assert await store.delete_session("nope") is False
        assert await store.get_branch("nope") is None
        assert await store.branches_forked_from("nope") == []
        assert await store.switch_head("nope", branch, T0) is None
        assert await store.get_branch(branch.id) is None
        assert await store.append_messages("nope", [user("x")], ["id1"], T0) == []
        assert await store.read_messages("nope", limit=10, newest_first=True) == []
        assert await store.get_message("nope") is None
        assert await store.get_checkpoint("nope") is None
        assert await store.list_checkpoints("nope") == []
        assert await store.delete_checkpoint("nope") is False
        assert await store.count_checkpoints("nope") == 0
        assert await store.get_channel_settings("nope") is None
        assert await store.archived_before(at(60), keep_checkpointed=False, limit=10) == []
        assert session.id  # unused otherwise

    async def test_start_session_archives_the_session_it_replaces(self, store: Store) -> None:
        old = await start(store)
        new = await start(store, created=at(5))
        assert new.id == old.id  # no archive asked: the active one wins
        fresh, root = make_session(created=at(5))
        started = await store.start_session(
            fresh, root, archive_id=old.id, archive_reason=ArchiveReason.RESET
        )
        assert started == fresh
        archived = await store.get_session(old.id)
        assert archived is not None and archived.status is SessionStatus.ARCHIVED
        assert archived.archive_reason is ArchiveReason.RESET
        assert archived.archived_at == at(5) and archived.updated_at == at(5)
        assert await store.get_active_session(old.scope_key) == fresh

    async def test_start_session_returns_the_active_winner_and_inserts_nothing(
        self, store: Store
    ) -> None:
        first = await start(store)
        loser, loser_root = make_session(created=at(1))
        assert await store.start_session(loser, loser_root) == first
        assert await store.get_session(loser.id) is None
        assert await store.get_branch(loser_root.id) is None

    async def test_concurrent_starts_end_with_one_active_session(self, store: Store) -> None:
        attempts = [make_session(created=at(n)) for n in range(6)]
        results = await asyncio.gather(
            *(store.start_session(session, root) for session, root in attempts)
        )
        assert len({s.id for s in results}) == 1
        listed = await store.list_sessions(SessionFilter(scope_key=results[0].scope_key), limit=10)
        assert [s.id for s in listed] == [results[0].id]
        assert await store.get_active_session(results[0].scope_key) == results[0]

    async def test_sessions_are_listed_and_counted_by_owner(self, store: Store) -> None:
        mine = await start(store, "api:a", owner="api:alice", platform="api", created=at(1))
        linked = await start(store, "telegram:1", owner="telegram:9", created=at(2))
        await start(store, "api:b", owner="api:bob", platform="api", created=at(3))
        alice = SessionFilter(owners=("api:alice", "telegram:9"))
        assert [s.id for s in await store.list_sessions(alice, limit=10)] == [linked.id, mine.id]
        assert await store.count_sessions(alice) == 2
        assert await store.count_sessions(SessionFilter()) == 3
        assert await store.count_sessions(SessionFilter(owners=())) == 0
        assert await store.count_sessions(SessionFilter(platform="api", status="active")) == 2

    async def test_sessions_are_listed_and_counted_by_title(self, store: Store) -> None:
        trip = await start(store, "k1", created=at(1))
        sure = await start(store, "k2", created=at(2))
        food = await start(store, "k3", created=at(3))
        await start(store, "k4", created=at(4))  # no title
        for session, title in (
            (trip, "Trip to Berlin"),
            (sure, "berlin 100% sure_"),
            (food, "Food"),
        ):
            await store.update_session(session.id, at(5), title=title)

        async def titled(text: str) -> list[str]:
            where = SessionFilter(title_contains=text)
            found = [s.id for s in await store.list_sessions(where, limit=10)]
            assert await store.count_sessions(where) == len(found)
            return found

        assert await titled("BERLIN") == [sure.id, trip.id]
        assert await titled("%") == [sure.id] and await titled("_") == [sure.id]
        assert await titled("0% s") == [sure.id] and await titled("o B") == [trip.id]
        assert await titled("") == [food.id, sure.id, trip.id]
        assert await titled("Paris") == []
        page = await store.list_sessions(SessionFilter(title_contains="i"), limit=1, offset=1)
        assert [s.id for s in page] == [trip.id]

    async def test_an_archived_session_starts_beside_the_active_one(self, store: Store) -> None:
        active = await start(store)
        imported = await start(
            store,
            status=SessionStatus.ARCHIVED,
            archived_at=at(1),
            archive_reason=ArchiveReason.IMPORTED,
        )
        assert imported.id != active.id
        assert await store.get_session(imported.id) == imported
        assert await store.get_active_session(active.scope_key) == active

    async def test_archive_is_conditional(self, store: Store) -> None:
        session = await start(store)
        assert await store.archive_session(session.id, ArchiveReason.IDLE, at(30)) is True
        assert await store.archive_session(session.id, ArchiveReason.DAILY, at(40)) is False
        stored = await store.get_session(session.id)
        assert stored == dataclasses.replace(
            session,
            status=SessionStatus.ARCHIVED,
            archive_reason=ArchiveReason.IDLE,
            archived_at=at(30),
            updated_at=at(30),
        )
        assert await store.get_active_session(session.scope_key) is None

    async def test_activate_displaces_the_current_session(self, store: Store) -> None:
        old = await start(store)
        new, root = make_session(created=at(1))
        await store.start_session(new, root, archive_id=old.id, archive_reason=ArchiveReason.NEW)
        resumed = await store.activate_session(
            old.id, at(10), displaced_reason=ArchiveReason.RESUMED
        )
        assert resumed is not None and resumed.is_active
        assert resumed.archived_at is None and resumed.archive_reason is None
        assert resumed.updated_at == resumed.last_activity_at == resumed.resumed_at == at(10)
        assert await store.get_session(old.id) == resumed
        displaced = await store.get_session(new.id)
        assert displaced is not None and not displaced.is_active
        assert displaced.archive_reason is ArchiveReason.RESUMED and displaced.archived_at == at(10)
        assert await store.get_active_session(old.scope_key) == resumed
        again = await store.activate_session(old.id, at(20), displaced_reason=ArchiveReason.RESUMED)
        assert again == resumed

    async def test_list_sessions_newest_first_with_filters_and_offset(self, store: Store) -> None:
        a = await start(store, "k1", created=at(1), session_id="aaaa1111")
        b = await start(store, "k2", created=at(2), session_id="bbbb2222", channel_id="c2")
        # Same creation time: ties go by id, highest first.
        c = await start(store, "k3", created=at(2), session_id="cccc3333", platform="slack")
        await store.archive_session(a.id, ArchiveReason.NEW, at(3))
        everything = await store.list_sessions(SessionFilter(), limit=10)
        assert [s.id for s in everything] == [c.id, b.id, a.id]
        page = await store.list_sessions(SessionFilter(), limit=1, offset=1)
        assert [s.id for s in page] == [b.id]
        assert await store.list_sessions(SessionFilter(), limit=10, offset=3) == []
        by_key = await store.list_sessions(SessionFilter(scope_key="k2"), limit=10)
        assert [s.id for s in by_key] == [b.id]
        channel = SessionFilter(platform="console", channel_id="c2")
        assert [s.id for s in await store.list_sessions(channel, limit=10)] == [b.id]
        console = await store.list_sessions(SessionFilter(platform="console"), limit=10)
        assert [s.id for s in console] == [b.id, a.id]
        archived = await store.list_sessions(SessionFilter(status="archived"), limit=10)
        assert [s.id for s in archived] == [a.id]
        active = await store.list_sessions(SessionFilter(status="active"), limit=10)
        assert [s.id for s in active] == [c.id, b.id]

    async def test_list_sessions_pages_by_keyset(self, store: Store) -> None:
        a = await start(store, "k1", created=at(1), session_id="aaaa1111")
        b = await start(store, "k2", created=at(2), session_id="bbbb2222", title="b")
        c = await start(store, "k3", created=at(2), session_id="cccc3333", title="c")
        d = await start(store, "k4", created=at(3), session_id="dddd4444", title="d")
        seen: list[str] = []
        where = SessionFilter()
        while page := await store.list_sessions(where, limit=2):
            seen += [s.id for s in page]
            where = SessionFilter(after=(page[-1].created_at, page[-1].id))
        assert seen == [d.id, c.id, b.id, a.id]  # ties at at(2) split across pages: none lost
        after_c = SessionFilter(after=(c.created_at, c.id), title_contains="B")
        assert [s.id for s in await store.list_sessions(after_c, limit=10)] == [b.id]
        assert await store.count_sessions(SessionFilter(after=(b.created_at, b.id))) == 1

    async def test_list_sessions_by_last_activity_pages_by_keyset(self, store: Store) -> None:
        a = await start(store, "k1", created=at(1), session_id="aaaa1111")
        b = await start(store, "k2", created=at(2), session_id="bbbb2222")
        c = await start(store, "k3", created=at(3), session_id="cccc3333")
        d = await start(store, "k4", created=at(4), session_id="dddd4444")
        await append(store, a, user("a again"), when=at(10))  # the oldest is the latest
        await append(store, c, user("c again"), when=at(10))  # a tie with a: by id
        await append(store, b, NewMessage(Role.ASSISTANT, "bot", "not the user"), when=at(20))
        order = SessionOrder.ACTIVITY
        seen: list[str] = []
        where = SessionFilter(order=order)
        while page := await store.list_sessions(where, limit=3):
            seen += [s.id for s in page]
            last = page[-1]
            where = SessionFilter(order=order, after=(last.last_activity_at, last.id))
        # A bot's answer is no activity of the user's: b stays where it was.
        assert seen == [c.id, a.id, d.id, b.id]
        newest = await store.list_sessions(SessionFilter(order=order, status="active"), limit=1)
        assert [s.id for s in newest] == [c.id]
        last_a = (await store.get_session(a.id)).last_activity_at  # type: ignore[union-attr]
        after_a = SessionFilter(order=order, after=(last_a, a.id))
        assert [s.id for s in await store.list_sessions(after_a, limit=10)] == [d.id, b.id]
        assert await store.count_sessions(after_a) == 2

    async def test_sessions_are_listed_and_counted_by_tag(self, store: Store) -> None:
        trip = await start(store, "k1", created=at(1), tags=("berlin-trip", "2026"))
        work = await start(store, "k2", created=at(2), tags=("work",))
        await start(store, "k3", created=at(3))  # no tags
        await store.update_session(work.id, at(4), tags=["work", "café_notes"])

        async def tagged(text: str, **more: object) -> list[str]:
            where = SessionFilter(tag_contains=text, **more)  # type: ignore[arg-type]
            found = [s.id for s in await store.list_sessions(where, limit=10)]
            assert await store.count_sessions(where) == len(found)
            return found

        assert await tagged("berlin") == [trip.id]
        assert await tagged("20") == [trip.id]
        assert await tagged("café") == [work.id] and await tagged("_") == [work.id]
        assert await tagged("%") == [] and await tagged('","') == [] and await tagged("[") == []
        assert await tagged("r") == [work.id, trip.id]
        assert await tagged("r", title_contains="x") == []
        assert await tagged("r", order=SessionOrder.ACTIVITY) == [work.id, trip.id]
        page = await store.list_sessions(SessionFilter(tag_contains="r"), limit=1, offset=1)
        assert [s.id for s in page] == [trip.id]

    async def test_messages_per_minute_count_the_users_since_a_time(self, store: Store) -> None:
        one = await start(store, "k1")
        two = await start(store, "k2")
        await append(store, one, user("early"), when=at(0.5))
        await append(store, one, user("a"), user("b"), when=at(2.25))
        await append(store, two, user("c"), when=at(2.75))
        await append(store, two, NewMessage(Role.ASSISTANT, "bot", "answer"), when=at(2.8))
        await append(store, two, user("d"), when=at(5))
        minute = T0.replace(second=0, microsecond=0)
        counts = await store.messages_per_minute(at(1))
        assert counts == {
            minute + timedelta(minutes=2): 3,
            minute + timedelta(minutes=5): 1,
        }
        assert all(m.tzinfo is not None and m.utcoffset() == timedelta(0) for m in counts)
        assert await store.messages_per_minute(at(6)) == {}

    async def test_sessions_ended_are_counted_by_reason(self, store: Store) -> None:
        sessions = [await start(store, f"k{n}") for n in range(5)]
        for session, reason, minute in zip(
            sessions,
            (ArchiveReason.IDLE, ArchiveReason.IDLE, ArchiveReason.DAILY, ArchiveReason.NEW),
            (10, 11, 12, 2),
            strict=False,
        ):
            await store.archive_session(session.id, reason, at(minute))
        assert await store.sessions_ended(at(5)) == {
            ArchiveReason.IDLE: 2,
            ArchiveReason.DAILY: 1,
        }
        assert await store.sessions_ended(at(0)) == {
            ArchiveReason.IDLE: 2,
            ArchiveReason.DAILY: 1,
            ArchiveReason.NEW: 1,
        }
        assert await store.sessions_ended(at(13)) == {}

    async def test_update_session_can_compare_and_set(self, store: Store) -> None:
        session = await start(store, tags=("a",))
        changed = await store.update_session(
            session.id, at(1), tags=["a", "b"], expect_updated_at=session.updated_at
        )
        assert changed is not None and changed.tags == ("a", "b")
        # Written from the session as it was before that change: refused, nothing written.
        stale = await store.update_session(
            session.id, at(2), tags=["a", "c"], expect_updated_at=session.updated_at
        )
        assert stale is None
        assert await store.get_session(session.id) == changed
        await append(store, changed, user("hi"), when=at(3))  # an append changes it too
        assert (
            await store.update_session(
                session.id, at(4), title="t", expect_updated_at=changed.updated_at
            )
            is None
        )
        missing = await store.update_session("nope", at(5), title="t", expect_updated_at=at(0))
        assert missing is None

    async def test_update_session_changes_only_given_fields(self, store: Store) -> None:
        session = await start(store, title="old", tags=("a",), metadata={"x": 1})
        titled = await store.update_session(session.id, at(1), title="new")
        assert titled == dataclasses.replace(session, title="new", updated_at=at(1))
        tagged = await store.update_session(session.id, at(2), tags=["b", "c"], metadata={"y": 2})
        assert tagged is not None
        assert tagged.tags == ("b", "c") and tagged.metadata == {"y": 2}
        assert tagged.title == "new" and tagged.updated_at == at(2)
        assert await store.get_session(session.id) == tagged

    async def test_delete_session_removes_everything(self, store: Store) -> None:
        session = await start(store)
        kept = await start(store, "other")
        messages = await fill(store, session, 3)
        other_messages = await fill(store, kept, 2)
        side = Branch(new_id(10), session.id, session.head_branch_id, 2, 2, at(1))
        await store.add_branch(side)
        saved = checkpoint(session, seq=3)
        await store.add_checkpoint(saved)
        await store.add_checkpoint(checkpoint(kept, seq=2))
        assert await store.delete_session(session.id) is True
        assert await store.get_session(session.id) is None
        assert await store.get_active_session(session.scope_key) is None
        assert await store.get_branch(session.head_branch_id) is None
        assert await store.get_branch(side.id) is None
        assert await store.read_messages(session.head_branch_id, limit=10, newest_first=False) == []
        assert await store.get_message(messages[0].id) is None
        assert await store.get_checkpoint(saved.id) is None
        assert await store.count_checkpoints(session.id) == 0
        assert await store.delete_session(session.id) is False
        assert await store.read_messages(kept.head_branch_id, limit=10, newest_first=False) == (
            other_messages
        )
        assert await store.count_checkpoints(kept.id) == 1
        # The scope key is free again.
        assert (await start(store)).id != session.id

    async def test_archived_before_oldest_first_and_keep_checkpointed(self, store: Store) -> None:
        sessions = [await start(store, f"k{n}", created=at(n)) for n in range(5)]
        plain, user_kept, auto_only, recent, active = sessions
        for session, when in ((user_kept, 10), (auto_only, 11), (plain, 12), (recent, 50)):
            await store.archive_session(session.id, ArchiveReason.IDLE, at(when))
        await store.add_checkpoint(checkpoint(user_kept))
        await store.add_checkpoint(checkpoint(user_kept, auto=True))
        await store.add_checkpoint(checkpoint(auto_only, auto=True))
        cutoff = at(40)
        every = await store.archived_before(cutoff, keep_checkpointed=False, limit=10)
        assert every == [user_kept.id, auto_only.id, plain.id]
        kept = await store.archived_before(cutoff, keep_checkpointed=True, limit=10)
        assert kept == [auto_only.id, plain.id]
        assert await store.archived_before(cutoff, keep_checkpointed=False, limit=2) == every[:2]
        assert await store.archived_before(at(10), keep_checkpointed=False, limit=10) == []
        assert active.id not in await store.archived_before(
            at(100), keep_checkpointed=False, limit=10
        )

    # -- scheduled resets -----------------------------------------------------

    async def test_archive_idle_uses_the_limit_in_force_once(self, store: Store) -> None:
        rules = ResetRules(
            idle_reset_minutes=30,
            overrides=(ResetOverride(RuleSelector(is_direct=True), idle_reset_minutes=0),),
        )
        stale = await start(store, "k1")
        fresh = await start(store, "k2", last_activity_at=at(20))
        direct = await start(store, "k3", is_direct=True)
        quick = await start(store, "k4", channel_id="quick", last_activity_at=at(20))
        archived_before = await start(store, "k5")
        await store.archive_session(archived_before.id, ArchiveReason.NEW, at(1))
        await store.put_channel_settings(
            ChannelSettings("console:c:quick", T0, idle_reset_minutes=5)
        )
        archived = await store.archive_due(rules.idle_sweep(), at(30))
        assert {s.id for s in archived} == {stale.id, quick.id}
        assert all(
            s.archive_reason is ArchiveReason.IDLE and s.archived_at == at(30) for s in archived
        )
        assert all(not s.is_active for s in archived)
        assert await store.archive_due(rules.idle_sweep(), at(30)) == []
        for session in (fresh, direct):
            assert (await store.get_session(session.id)).is_active  # type: ignore[union-attr]
        stored = await store.get_session(archived_before.id)
        assert stored is not None and stored.archive_reason is ArchiveReason.NEW

    async def test_archive_daily_matches_schedule_boundary_and_grace(self, store: Store) -> None:
        rules = ResetRules(daily_reset_time="04:00", grace_minutes=15)
        boundary = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
        quiet = await start(store, "k1")
        talking = await start(store, "k2", last_activity_at=boundary - timedelta(minutes=5))
        later = await start(store, "k3", created=boundary + timedelta(minutes=1))
        resumed = await start(store, "k4", resumed_at=boundary + timedelta(minutes=1))
        tokyo_session = await start(store, "k5", channel_id="tokyo")
        await store.put_channel_settings(
            ChannelSettings("console:c:tokyo", T0, daily_reset_time="05:00", timezone="Asia/Tokyo")
        )
        now = boundary + timedelta(minutes=2)
        archived = await store.archive_due(_daily(rules, now), now)
        assert [s.id for s in archived] == [quiet.id]
        assert archived[0].archive_reason is ArchiveReason.DAILY and archived[0].archived_at == now
        assert await store.archive_due(_daily(rules, now), now) == []
        later_now = boundary + timedelta(minutes=20)
        archived = await store.archive_due(_daily(rules, later_now), later_now)
        assert [s.id for s in archived] == [talking.id]
        tokyo = await store.archive_due(
            _daily(rules, later_now, ("05:00", "Asia/Tokyo")), later_now
        )
        assert [s.id for s in tokyo] == [tokyo_session.id]
        for session in (later, resumed):
            assert (await store.get_session(session.id)).is_active  # type: ignore[union-attr]

    async def test_stored_schedules_are_distinct_pairs(self, store: Store) -> None:
        assert await store.stored_schedules() == set()
        for key, daily, zone in (
            ("a", "05:00", "Asia/Tokyo"),
            ("b", "05:00", "Asia/Tokyo"),
            ("c", None, "Europe/Berlin"),
            ("d", None, None),
        ):
            await store.put_channel_settings(
                ChannelSettings(key, T0, daily_reset_time=daily, timezone=zone)
            )
        assert await store.stored_schedules() == {
            ("05:00", "Asia/Tokyo"),
            (None, "Europe/Berlin"),
            (None, None),
        }

    # -- branches and messages ------------------------------------------------

    async def test_append_numbers_per_branch_and_moves_counters(self, store: Store) -> None:
        session = await start(store)
        first = await append(store, session, user("hello"), bot("hi", 11, 3), when=at(1))
        assert [(m.seq, m.role, m.branch_id) for m in first] == [
            (1, Role.USER, session.head_branch_id),
            (2, Role.ASSISTANT, session.head_branch_id),
        ]
        # One append's messages get strictly increasing times, from the append's own.
        assert [m.created_at for m in first] == [at(1), at(1) + TICK]
        assert all(m.session_id == session.id for m in first)
        after_user = await store.get_session(session.id)
        assert after_user is not None
        assert (after_user.message_count, after_user.tokens_in, after_user.tokens_out) == (2, 11, 3)
        assert after_user.last_activity_at == at(1)
        assert after_user.updated_at == at(1) + TICK
        second = await append(store, session, bot("more", 5, 1), when=at(2))
        assert [m.seq for m in second] == [3]
        after_bot = await store.get_session(session.id)
        assert after_bot is not None
        assert (after_bot.message_count, after_bot.tokens_in, after_bot.tokens_out) == (3, 16, 4)
        # Only a user message keeps a session alive.
        assert after_bot.updated_at == at(2) and after_bot.last_activity_at == at(1)
        head = await store.get_branch(session.head_branch_id)
        assert head is not None and head.last_seq == 3
        stored = await store.read_messages(session.head_branch_id, limit=10, newest_first=False)
        assert stored == first + second

    async def test_append_continues_on_the_new_head(self, store: Store) -> None:
        session = await start(store)
        await fill(store, session, 3)
        fork = Branch(new_id(10), session.id, session.head_branch_id, 2, 2, at(1))
        switched = await store.switch_head(session.id, fork, at(1))
        assert switched is not None
        assert switched.head_branch_id == fork.id and switched.message_count == 2
        assert switched.updated_at == at(1)
        assert await store.get_branch(fork.id) == fork
        added = await append(store, session, user("other way"), when=at(2))
        assert [(m.seq, m.branch_id) for m in added] == [(3, fork.id)]
        root = await store.read_messages(session.head_branch_id, limit=10, newest_first=False)
        assert [m.seq for m in root] == [1, 2, 3]
        current = await store.get_session(session.id)
        assert current is not None and current.message_count == 3

    async def test_times_strictly_increase_along_a_history_under_a_still_clock(
        self, store: Store
    ) -> None:
        session = await start(store)
        first = await append(store, session, user("a"), bot("b"), when=at(1))
        again = await append(store, session, user("c"), when=at(1))
        earlier = await append(store, session, user("d"), when=at(0))  # the clock stepped back
        times = [m.created_at for m in first + again + earlier]
        assert times == [at(1) + n * TICK for n in range(4)]
        # A branch forked at the newest message continues after it, not at the clock.
        fork = Branch(new_id(10), session.id, session.head_branch_id, 4, 4, at(1))
        await store.switch_head(session.id, fork, at(1))
        [forked] = await append(store, session, user("e"), when=at(1))
        assert forked.created_at == at(1) + 4 * TICK
        later = await append(store, session, user("f"), when=at(2))
        assert later[0].created_at == at(2)
        current = await store.get_session(session.id)
        assert current is not None and current.updated_at == current.last_activity_at == at(2)

    async def test_many_appends_in_one_instant_share_no_time(self, store: Store) -> None:
        session = await start(store)
        written = await asyncio.gather(*(append(store, session, user(f"m{n}")) for n in range(40)))
        times = sorted(m.created_at for batch in written for m in batch)
        assert len(set(times)) == 40
        stored = await store.read_messages(session.head_branch_id, limit=50, newest_first=False)
        assert [m.created_at for m in stored] == times

    # -- API keys ---------------------------------------------------------------

    async def test_a_freshly_opened_store_has_the_current_schema(self, store: Store) -> None:
        assert await store.schema_current()

    async def test_api_keys_are_stored_listed_and_revoked_once(self, store: Store) -> None:
        made = [new_api_key(f"u{n}", admin=n == 0, name=f"k{n}", at=at(n)) for n in range(3)]
        for key, _ in reversed(made):
            await store.add_api_key(key)
        assert await store.list_api_keys() == [key for key, _ in made]
        key, text = made[1]
        assert await store.get_api_key(key.id) == key
        parsed = parse_api_key(text)
        assert parsed is not None and secret_matches(await store.get_api_key(parsed[0]), parsed[1])
        assert parsed[1] not in repr(await store.list_api_keys())  # only a hash
        assert await store.revoke_api_key(key.id, at(5))
        assert not await store.revoke_api_key(key.id, at(6))
        assert not await store.revoke_api_key("nosuchkey000", at(6))
        revoked = await store.get_api_key(key.id)
        assert revoked is not None and revoked.revoked_at == at(5)
        assert not secret_matches(revoked, parsed[1])
        assert await store.get_api_key("nosuchkey000") is None
        with pytest.raises(ConflictError):
            await store.add_api_key(key)

    async def test_a_head_switch_stores_its_undo_at_the_stored_head(self, store: Store) -> None:
        session = await start(store)  # as the caller saw it: no messages yet
        await fill(store, session, 3)  # meanwhile, another worker appended three
        undo = Checkpoint(
            id=new_id(10),
            session_id=session.id,
            branch_id=session.head_branch_id,
            seq=0,
            name="before",
            auto=True,
            created_by="u",
            created_at=at(1),
        )
        fork = Branch(new_id(10), session.id, None, 0, 0, at(1))
        switched = await store.switch_head(session.id, fork, at(1), undo=undo)
        assert switched is not None and switched.head_branch_id == fork.id
        [stored] = await store.list_checkpoints(session.id)
        assert (stored.id, stored.name, stored.auto) == (undo.id, "before", True)
        assert (stored.branch_id, stored.seq) == (session.head_branch_id, 3)

    async def test_a_head_switch_of_a_missing_session_stores_no_undo(self, store: Store) -> None:
        undo = Checkpoint(
            id=new_id(10),
            session_id="nosuchsess",
            branch_id="b",
            seq=0,
            name="before",
            created_by="u",
            created_at=at(1),
        )
        fork = Branch(new_id(10), "nosuchsess", None, 0, 0, at(1))
        assert await store.switch_head("nosuchsess", fork, at(1), undo=undo) is None
        assert await store.get_checkpoint(undo.id) is None

    async def test_concurrent_appends_never_share_a_seq(self, store: Store) -> None:
        session = await start(store)
        batches = await asyncio.gather(
            *(append(store, session, user(f"u{n}"), bot(f"b{n}", 1, 1)) for n in range(8))
        )
        seqs = sorted(m.seq for batch in batches for m in batch)
        assert seqs == list(range(1, 17))
        assert all(batch[1].seq == batch[0].seq + 1 for batch in batches)
        stored = await store.get_session(session.id)
        assert stored is not None and stored.message_count == 16 and stored.tokens_in == 8

    async def test_read_messages_ranges_order_and_limit(self, store: Store) -> None:
        session = await start(store)
        await fill(store, session, 10)
        branch = session.head_branch_id

        async def seqs(**kwargs: object) -> list[int]:
            found = await store.read_messages(branch, **kwargs)  # type: ignore[arg-type]
            return [m.seq for m in found]

        assert await seqs(limit=100, newest_first=False) == list(range(1, 11))
        assert await seqs(limit=3, newest_first=True) == [10, 9, 8]
        assert await seqs(limit=3, newest_first=False) == [1, 2, 3]
        assert await seqs(min_seq=4, max_seq=6, limit=10, newest_first=False) == [4, 5, 6]
        assert await seqs(min_seq=4, max_seq=6, limit=2, newest_first=True) == [6, 5]
        assert await seqs(min_seq=9, limit=10, newest_first=False) == [9, 10]
        assert await seqs(max_seq=2, limit=10, newest_first=True) == [2, 1]
        assert await seqs(min_seq=7, max_seq=6, limit=10, newest_first=False) == []
        message = (
            await store.read_messages(branch, min_seq=5, max_seq=5, limit=1, newest_first=False)
        )[0]
        assert await store.get_message(message.id) == message

    async def test_copy_messages_stores_them_exactly(self, store: Store) -> None:
        session = await start(store, status=SessionStatus.ARCHIVED, archived_at=T0)
        copies = [
            Message(
                id=new_id(16),
                session_id=session.id,
                branch_id=session.head_branch_id,
                seq=seq,
                role=role,
                author="imported",
                content=f"line {seq}",
                created_at=at(-seq),
                metadata={"seq": seq},
                tokens_in=seq,
                tokens_out=2 * seq,
            )
            for seq, role in ((2, Role.ASSISTANT), (1, Role.USER), (3, Role.SYSTEM))
        ]
        await store.copy_messages(copies)
        await store.copy_messages([])
        stored = await store.read_messages(session.head_branch_id, limit=10, newest_first=False)
        assert stored == sorted(copies, key=lambda m: m.seq)
        assert await store.get_message(copies[0].id) == copies[0]
        untouched = await store.get_session(session.id)
        assert untouched == session

    async def test_branches_fork_and_reparent(self, store: Store) -> None:
        origin = await start(store, "k1")
        await fill(store, origin, 4)
        side = Branch(new_id(10), origin.id, origin.head_branch_id, 2, 2, at(1))
        await store.add_branch(side)
        assert await store.get_branch(side.id) == side
        assert (await store.get_session(origin.id)).head_branch_id == origin.head_branch_id  # type: ignore[union-attr]
        # A session branched from a checkpoint of origin.
        forked, forked_root = make_session("k2", created=at(2))
        forked_root = dataclasses.replace(
            forked_root, parent_id=origin.head_branch_id, fork_seq=3, last_seq=3
        )
        forked = dataclasses.replace(forked, head_branch_id=forked_root.id, message_count=3)
        await store.start_session(forked, forked_root)
        assert await store.branches_forked_from(origin.id) == [forked_root]
        assert await store.branches_forked_from(forked.id) == []
        detached = Branch(new_id(10), forked.id, None, 0, 3, at(3))
        await store.add_branch(detached)
        await store.reparent_branch(forked_root.id, detached.id, 3)
        moved = await store.get_branch(forked_root.id)
        assert moved == dataclasses.replace(forked_root, parent_id=detached.id, fork_seq=3)
        assert await store.branches_forked_from(origin.id) == []
        await store.reparent_branch(forked_root.id, None, 0)
        root_again = await store.get_branch(forked_root.id)
        assert root_again is not None and root_again.parent_id is None and root_again.fork_seq == 0

    async def test_branches_of_lists_a_sessions_own_branches(self, store: Store) -> None:
        session = await start(store)
        other = await start(store, "other")
        side = Branch(new_id(10), session.id, session.head_branch_id, 0, 0, at(1))
        await store.add_branch(side)
        root = await store.get_branch(session.head_branch_id)
        assert {b.id for b in await store.branches_of(session.id)} == {root.id, side.id}  # type: ignore[union-attr]
        assert [b.id for b in await store.branches_of(other.id)] == [other.head_branch_id]
        assert await store.branches_of("nope") == []

    async def test_rewrite_messages_replaces_content_and_metadata_only(self, store: Store) -> None:
        session = await start(store)
        first, second, third = await fill(store, session, 3)
        rewritten = [
            dataclasses.replace(first, content="sealed:1", metadata={"sb:sealed": "x"}, seq=99),
            dataclasses.replace(third, content="sealed:3", metadata={}),
            dataclasses.replace(third, id="missing", content="ignored"),
        ]
        await store.rewrite_messages(rewritten)
        await store.rewrite_messages([])
        stored = await store.read_messages(session.head_branch_id, limit=10, newest_first=False)
        assert stored == [
            dataclasses.replace(first, content="sealed:1", metadata={"sb:sealed": "x"}),
            second,
            dataclasses.replace(third, content="sealed:3", metadata={}),
        ]
        assert await store.get_message("missing") is None

    # -- checkpoints ----------------------------------------------------------

    async def test_rewrite_checkpoint_replaces_name_and_description_only(
        self, store: Store
    ) -> None:
        session = await start(store)
        saved = checkpoint(session, seq=0)
        await store.add_checkpoint(saved)
        await store.rewrite_checkpoint(
            dataclasses.replace(saved, name="sealed-name", description="sealed-text", seq=5)
        )
        await store.rewrite_checkpoint(checkpoint(session))  # unknown id: nothing happens
        assert await store.get_checkpoint(saved.id) == dataclasses.replace(
            saved, name="sealed-name", description="sealed-text"
        )
        assert await store.count_checkpoints(session.id) == 1

    async def test_checkpoints_crud_and_count(self, store: Store) -> None:
        session = await start(store)
        other = await start(store, "other")
        await fill(store, session, 2)
        second = checkpoint(session, seq=2, created=at(2), name="second")
        first = checkpoint(session, seq=1, created=at(1), name="first ✓", auto=True)
        await store.add_checkpoint(second)
        await store.add_checkpoint(first)
        await store.add_checkpoint(checkpoint(other))
        assert await store.get_checkpoint(first.id) == first
        assert await store.list_checkpoints(session.id) == [first, second]
        assert await store.count_checkpoints(session.id) == 2
        assert await store.delete_checkpoint(first.id) is True
        assert await store.delete_checkpoint(first.id) is False
        assert await store.list_checkpoints(session.id) == [second]
        assert await store.count_checkpoints(session.id) == 1
        assert await store.count_checkpoints(other.id) == 1

    async def test_channel_settings_are_upserted(self, store: Store) -> None:
        settings = ChannelSettings("telegram:c:42", T0, scope="peer", daily_reset_time="04:30")
        await store.put_channel_settings(settings)
        assert await store.get_channel_settings("telegram:c:42") == settings
        changed = ChannelSettings(
            "telegram:c:42", at(1), idle_reset_minutes=0, timezone="Europe/Paris"
        )
        await store.put_channel_settings(changed)
        assert await store.get_channel_settings("telegram:c:42") == changed
        smart = dataclasses.replace(changed, context_strategy="smart")
        await store.put_channel_settings(smart)
        assert await store.get_channel_settings("telegram:c:42") == smart
        assert await store.get_channel_settings("telegram:c:43") is None

    # -- values ---------------------------------------------------------------

    async def test_times_come_back_as_aware_utc(self, store: Store) -> None:
        session = await start(store)
        await store.archive_session(session.id, ArchiveReason.NEW, at(1))
        resumed = await store.activate_session(
            session.id, at(2), displaced_reason=ArchiveReason.RESUMED
        )
        assert resumed is not None
        await store.archive_session(session.id, ArchiveReason.NEW, at(3))
        (message,) = await append(store, session, user("x"), when=at(4))
        await store.add_checkpoint(checkpoint(session, created=at(5)))
        await store.put_channel_settings(ChannelSettings("k", at(6)))
        stored = await store.get_session(session.id)
        assert stored is not None
        times = [
            stored.created_at,
            stored.updated_at,
            stored.last_activity_at,
            stored.archived_at,
            stored.resumed_at,
            (await store.get_branch(session.head_branch_id)).created_at,  # type: ignore[union-attr]
            (await store.get_message(message.id)).created_at,  # type: ignore[union-attr]
            (await store.list_checkpoints(session.id))[0].created_at,
            (await store.get_channel_settings("k")).updated_at,  # type: ignore[union-attr]
        ]
        assert all(is_aware_utc(when) for when in times)
        assert times == [T0, at(4), at(4), at(3), at(2), T0, at(4), at(5), at(6)]

    async def test_unicode_round_trips(self, store: Store) -> None:
        texts = [
            "héllo wörld",
            "日本語のテキスト",
            "مرحبا بالعالم",
            "emoji 👩‍👩‍👧‍👦 🏳️‍🌈",
            "e\u0301 combining, 'quotes' \"double\" \\backslash\\ %s {} ?",
            "line one\nline two\r\n\ttabbed",
            "long " + "ß" * 20_000,
        ]
        session = await start(store, "console:c:ç:u:名前", title="тема", tags=("标签",))
        stored = await append(store, session, *(user(text) for text in texts))
        read = await store.read_messages(session.head_branch_id, limit=100, newest_first=False)
        assert [m.content for m in read] == texts
        assert read == stored
        again = await store.get_active_session("console:c:ç:u:名前")
        assert again is not None and again.title == "тема" and again.tags == ("标签",)


class TestKeyringContract:
    async def test_keyring_add_keeps_the_first_entry(self, backend: Backend) -> None:
        first = KeyringEntry("session:abc", b"\x00wrapped\xff", 1)
        assert await backend.keyring_add(first) == first
        assert await backend.keyring_add(KeyringEntry("session:abc", b"other", 2)) == first
        assert await backend.keyring_get("session:abc") == first
        assert await backend.keyring_get("session:nope") is None
        await backend.keyring_delete("session:abc")
        await backend.keyring_delete("session:abc")
        assert await backend.keyring_get("session:abc") is None

    async def test_concurrent_keyring_adds_end_with_one_entry(self, backend: Backend) -> None:
        entries = [KeyringEntry("session:race", bytes([n]), 1) for n in range(5)]
        stored = await asyncio.gather(*(backend.keyring_add(e) for e in entries))
        assert len(set(stored)) == 1 and stored[0] in entries
        assert await backend.keyring_get("session:race") == stored[0]

    async def test_keyring_pages_by_prefix_in_name_order(self, backend: Backend) -> None:
        names = ["session:b", "session:a", "session:B", "session:c_d", "session:cxd", "check"]
        for name in names:
            await backend.keyring_add(KeyringEntry(name, name.encode(), 1))
        await backend.keyring_add(KeyringEntry("sessions", b"x", 1))
        page = await backend.keyring_page("session:", "", 2)
        assert [e.name for e in page] == ["session:B", "session:a"]
        page = await backend.keyring_page("session:", page[-1].name, 10)
        assert [e.name for e in page] == ["session:b", "session:c_d", "session:cxd"]
        assert await backend.keyring_page("session:", "session:cxd", 10) == []
        # LIKE wildcards in a prefix match only themselves.
        assert [e.name for e in await backend.keyring_page("session:c_", "", 10)] == ["session:c_d"]

    async def test_keyring_stage_and_commit_swap_in_one_step(self, backend: Backend) -> None:
        for name in ("session:a", "session:b"):
            await backend.keyring_add(KeyringEntry(name, b"old-" + name.encode(), 1))
        await backend.keyring_add(KeyringEntry("check", b"old-check", 1))
        assert await backend.keyring_unstaged("session:", 2) == 2
        await backend.keyring_stage("session:a", b"new-a", 2)
        await backend.keyring_stage("session:missing", b"new", 2)
        staged = await backend.keyring_get("session:a")
        assert staged == KeyringEntry("session:a", b"old-session:a", 1, b"new-a", 2)
        assert await backend.keyring_unstaged("session:", 2) == 1
        assert await backend.keyring_unstaged("session:", 3) == 2
        with pytest.raises(ConflictError):
            await backend.keyring_commit(
                KeyringEntry("check", b"new-check", 2), require_prefix="session:"
            )
        assert await backend.keyring_get("session:a") == staged
        assert await backend.keyring_get("check") == KeyringEntry("check", b"old-check", 1)
        await backend.keyring_stage("session:b", b"new-b", 2)
        assert (
            await backend.keyring_commit(
                KeyringEntry("check", b"new-check", 2), require_prefix="session:"
            )
            == 2
        )
        assert await backend.keyring_get("session:a") == KeyringEntry("session:a", b"new-a", 2)
        assert await backend.keyring_get("session:b") == KeyringEntry("session:b", b"new-b", 2)
        assert await backend.keyring_get("check") == KeyringEntry("check", b"new-check", 2)
        assert await backend.keyring_unstaged("session:", 2) == 2

    # -- channel settings -----------------------------------------------------


def _search(*sessions: Session, words: tuple[str, ...]) -> TextSearch:
    return TextSearch(session_ids=tuple(s.id for s in sessions), words=words)


class TestSearchContract:
    """search_messages, the blind-index rows, and listing by owner, on every stack."""

    async def test_finds_messages_with_every_word_newest_first(self, store: Store) -> None:
        session = await start(store)
        await append(store, session, user("The blue whale sings"), when=at(1))
        await append(store, session, bot("A whale of a time"), when=at(2))
        await append(store, session, user("Blue skies, BLUE WHALE"), when=at(3))
        found = await store.search_messages(_search(session, words=("whale",)), limit=10)
        assert [m.content for m in found] == [
            "Blue skies, BLUE WHALE",
            "A whale of a time",
            "The blue whale sings",
        ]
        both = await store.search_messages(_search(session, words=("blue", "whale")), limit=10)
        assert [m.content for m in both] == ["Blue skies, BLUE WHALE", "The blue whale sings"]
        assert await store.search_messages(_search(session, words=("whal",)), limit=10) == []

    async def test_pages_with_limit_and_offset(self, store: Store) -> None:
        session = await start(store)
        for n in range(5):
            await append(store, session, user(f"tea number {n}"), when=at(n))
        search = _search(session, words=("tea",))
        first = await store.search_messages(search, limit=2)
        second = await store.search_messages(search, limit=2, offset=2)
        last = await store.search_messages(search, limit=2, offset=4)
        shown = [m.content for m in [*first, *second, *last]]
        assert shown == [f"tea number {n}" for n in (4, 3, 2, 1, 0)]

    async def test_only_the_named_sessions_are_searched(self, store: Store) -> None:
        mine = await start(store)
        theirs = await start(store, "console:c:c1:u:bob", owner="console:bob")
        await append(store, mine, user("secret plans"))
        await append(store, theirs, user("secret plans of bob"))
        found = await store.search_messages(_search(mine, words=("secret",)), limit=10)
        assert [m.session_id for m in found] == [mine.id]
        assert await store.search_messages(_search(words=("secret",)), limit=10) == []

    async def test_a_deleted_session_is_not_found(self, store: Store) -> None:
        session = await start(store)
        await append(store, session, user("remember the lighthouse"))
        assert await store.delete_session(session.id)
        search = _search(session, words=("lighthouse",))
        assert await store.search_messages(search, limit=10) == []

    async def test_copied_messages_are_found(self, store: Store) -> None:
        session = await start(store)
        branch = Branch(new_id(10), session.id, None, 0, 1, T0)
        await store.add_branch(branch)
        copied = Message(
            new_id(16), session.id, branch.id, 1, Role.USER, "alice", "old harbour", T0
        )
        await store.copy_messages([copied])
        found = await store.search_messages(_search(session, words=("harbour",)), limit=10)
        assert [m.id for m in found] == [copied.id]

    async def test_list_sessions_by_owner(self, store: Store) -> None:
        mine = await start(store)
        other = await start(store, "telegram:u:7", owner="telegram:7")
        await start(store, "console:c:c1:u:bob", owner="console:bob")
        found = await store.list_sessions(
            SessionFilter(owners=("console:alice", "telegram:7")), limit=10
        )
        assert {s.id for s in found} == {mine.id, other.id}

    async def test_blind_terms_are_searched_by_version_and_dropped(self, backend: Backend) -> None:
        session = await start(backend)
        a, b = await append(backend, session, user("x"), user("y"))
        await backend.add_blind_terms(
            [
                BlindTerms(session.id, a.id, 1, ("t1", "t2")),
                BlindTerms(session.id, b.id, 1, ("t1",)),
                BlindTerms(session.id, b.id, 2, ("t2",)),
            ]
        )
        await backend.add_blind_terms([BlindTerms(session.id, a.id, 1, ("t1",))])  # kept once
        blind = TextSearch((session.id,), ("t1", "t2"), blind_version=1)
        assert [m.id for m in await backend.search_messages(blind, limit=10)] == [a.id]
        one = TextSearch((session.id,), ("t1",), blind_version=1)
        assert {m.id for m in await backend.search_messages(one, limit=10)} == {a.id, b.id}
        assert await backend.drop_blind_terms(keep_version=2) == 3
        assert await backend.search_messages(one, limit=10) == []
        two = TextSearch((session.id,), ("t2",), blind_version=2)
        assert [m.id for m in await backend.search_messages(two, limit=10)] == [b.id]
        await backend.delete_session(session.id)
        assert await backend.search_messages(two, limit=10) == []

    async def test_blind_terms_come_with_their_append_or_not_at_all(self, backend: Backend) -> None:
        session = await start(backend)
        ids = [new_id(16)]
        terms = [BlindTerms(session.id, ids[0], 1, ("t9",))]
        await backend.append_messages(session.id, [user("x")], ids, T0, blind_terms=terms)
        nine = TextSearch((session.id,), ("t9",), blind_version=1)
        assert [m.id for m in await backend.search_messages(nine, limit=10)] == ids
        other = [new_id(16)]
        with pytest.raises(StaleSessionError):
            await backend.append_messages(
                session.id,
                [user("y")],
                other,
                T0,
                expect_head="elsewhere",
                blind_terms=[BlindTerms(session.id, other[0], 1, ("t8",))],
            )
        eight = TextSearch((session.id,), ("t8",), blind_version=1)
        assert await backend.search_messages(eight, limit=10) == []
