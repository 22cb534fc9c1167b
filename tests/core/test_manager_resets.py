from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from core.clock import ManualClock
from core.models import (
    ArchiveReason,
    ChannelSettings,
    Inbound,
    NewMessage,
    Role,
    Session,
    SessionStatus,
)
from core.sessions.manager import SessionManager
from core.sessions.resets import ResetOverride, ResetRules, RuleSelector
from core.sessions.scope import Scope
from core.storage.memory import MemoryStore

START = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def inbound(user: str = "alice", channel: str = "c1", *, direct: bool = False) -> Inbound:
    return Inbound("console", channel, user, "hi", is_direct=direct)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def make(clock: ManualClock, rules: ResetRules) -> SessionManager:
    return SessionManager(MemoryStore(), clock=clock, reset_rules=rules)


async def test_idle_session_is_replaced_lazily_with_title_and_tags(clock: ManualClock) -> None:
    manager = make(clock, ResetRules(idle_reset_minutes=30))
    first = (await manager.resolve(inbound())).session
    await manager.sessions.update(first, title="plans", tags=["work"])
    clock.advance(timedelta(minutes=29, seconds=59))
    assert (await manager.resolve(inbound())).replaced is None
    clock.advance(timedelta(seconds=1))
    resolution = await manager.resolve(inbound())
    assert resolution.replaced is not None and resolution.replaced.id == first.id
    assert resolution.replaced.archive_reason is ArchiveReason.IDLE
    assert (resolution.session.title, resolution.session.tags) == ("plans", ("work",))
    again = await manager.resolve(inbound())
    assert again.session.id == resolution.session.id and again.replaced is None


async def test_bot_replies_do_not_keep_a_session_alive(clock: ManualClock) -> None:
    manager = make(clock, ResetRules(idle_reset_minutes=30))
    session = (await manager.resolve(inbound())).session
    await manager.history.append(session, NewMessage(Role.USER, "alice", "q"))
    clock.advance(timedelta(minutes=20))
    await manager.history.append(session, NewMessage(Role.ASSISTANT, "bot", "late answer"))
    await manager.history.append(session, NewMessage(Role.SYSTEM, "bot", "note"))
    clock.advance(timedelta(minutes=10))
    assert (await manager.resolve(inbound())).replaced is not None


async def test_a_session_archived_while_nobody_wrote_is_announced_once(clock: ManualClock) -> None:
    manager = make(clock, ResetRules(idle_reset_minutes=30))
    old = (await manager.resolve(inbound())).session
    await manager.sessions.archive(old, ArchiveReason.IDLE)  # what the scheduler does
    first = await manager.resolve(inbound())
    assert first.replaced is not None and first.replaced.id == old.id
    assert (await manager.resolve(inbound())).replaced is None


async def test_a_resumed_session_is_not_reset_again_at_once(clock: ManualClock) -> None:
    manager = make(clock, ResetRules(daily_reset_time="04:00", idle_reset_minutes=30))
    old = (await manager.resolve(inbound())).session
    clock.advance(timedelta(days=1))
    fresh = await manager.resolve(inbound())
    assert fresh.replaced is not None and fresh.replaced.archive_reason is ArchiveReason.IDLE
    resumed, _ = await manager.sessions.resume(fresh.key, old.id)
    assert resumed.resumed_at == clock.now()
    after = await manager.resolve(inbound())
    assert after.session.id == old.id and after.replaced is None


async def test_channel_settings_win_and_survive_resets(clock: ManualClock) -> None:
    manager = make(clock, ResetRules(idle_reset_minutes=60))
    await manager.channels.set_scope(inbound(), Scope.CHANNEL)
    settings = await manager.channels.settings(inbound())
    assert settings is not None
    await manager.store.put_channel_settings(dataclasses.replace(settings, idle_reset_minutes=5))
    session = (await manager.resolve(inbound())).session
    clock.advance(timedelta(minutes=5))
    resolution = await manager.resolve(inbound(user="bob"))
    assert resolution.replaced is not None and resolution.replaced.id == session.id
    assert resolution.key.scope is Scope.CHANNEL  # the scope override carried over too


async def test_overrides_by_chat_type(clock: ManualClock) -> None:
    rules = ResetRules(
        idle_reset_minutes=0,
        overrides=(ResetOverride(RuleSelector(is_direct=True), idle_reset_minutes=10),),
    )
    manager = make(clock, rules)
    group = (await manager.resolve(inbound())).session
    direct = (await manager.resolve(inbound(channel="dm", direct=True))).session
    clock.advance(timedelta(hours=5))
    assert (await manager.resolve(inbound())).session.id == group.id
    assert (await manager.resolve(inbound(channel="dm", direct=True))).session.id != direct.id


def test_fields_resolve_one_by_one() -> None:
    rules = ResetRules(
        daily_reset_time="04:00",
        idle_reset_minutes=30,
        timezone="Europe/Berlin",
        overrides=(ResetOverride(RuleSelector(platform="console"), idle_reset_minutes=0),),
    )
    manager_session = dataclasses.replace(
        _session(), platform="console", channel_key="console:c:c1"
    )
    settings = ChannelSettings("console:c:c1", START, timezone="Asia/Tokyo")
    policy = rules.policy_for(manager_session, settings)
    assert policy.idle_minutes is None
    assert str(policy.daily_time) == "04:00:00" and str(policy.timezone) == "Asia/Tokyo"


def _session() -> Session:
    return Session("s", "k", SessionStatus.ACTIVE, "o", "p", "c", "b", START, START, START)
