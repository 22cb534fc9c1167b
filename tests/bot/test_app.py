from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.base import Adapter, AdapterContext, AdapterPlugin
from adapters.console import ConsoleSettings
from bot.app import Application
from bot.config import Settings, validate_settings
from bot.wiring import build_manager, opened_manager
from core.backoff import Backoff
from core.clock import ManualClock
from core.crypto.opening import open_store
from core.models import ArchiveReason, Inbound
from core.storage.protocols import SessionFilter
from core.types import InboundHandler
from tests.bot.fakes import FakeAdapter

ALICE = Inbound("console", "console", "alice", "x")


def settings_for(tmp_path: Path, **storage: object) -> Settings:
    raw = {"storage": {"url": f"sqlite:///{tmp_path / 'bot.db'}", **storage}}
    return validate_settings(raw, label="test")


def plugins(
    make: Callable[[InboundHandler], FakeAdapter],
) -> dict[str, AdapterPlugin[ConsoleSettings]]:
    """Put a fake in the console's place (the adapter enabled by default)."""

    def console(settings: ConsoleSettings, context: AdapterContext) -> Adapter:
        assert ("checkpoint", "Save points in this conversation and go back to them.") in (
            context.commands
        )
        assert context.bot_name == "sessionbot"
        return make(context.handler)

    return {"console": AdapterPlugin("console", ConsoleSettings, console)}


async def test_messages_go_through_the_router_and_are_stored(tmp_path: Path) -> None:
    adapter: list[FakeAdapter] = []

    def make(handler: InboundHandler) -> FakeAdapter:
        adapter.append(FakeAdapter(handler, lines=("hello", "/session")))
        return adapter[0]

    settings = settings_for(tmp_path)
    await asyncio.wait_for(Application(settings, adapters=plugins(make)).run(), 10)
    assert adapter[0].replies[0] == "echo: hello"
    assert adapter[0].replies[1].startswith("Session ")
    assert adapter[0].stops == 1
    async with opened_manager(settings) as manager:
        (session,) = await manager.sessions.list(SessionFilter())
    assert session.message_count == 2


async def test_a_failing_adapter_is_retried(tmp_path: Path) -> None:
    adapter = FakeAdapter(fail_starts=2)
    app = Application(
        settings_for(tmp_path),
        adapters=plugins(lambda handler: adapter),
        backoff=Backoff(initial=0.001, maximum=0.01),
    )
    await asyncio.wait_for(app.run(), 10)
    assert adapter.starts == 3


async def test_request_stop_stops_a_running_adapter(tmp_path: Path) -> None:
    adapter = FakeAdapter(finish=False)
    app = Application(settings_for(tmp_path), adapters=plugins(lambda handler: adapter))
    run = asyncio.create_task(app.run())
    await asyncio.wait_for(adapter.running.wait(), 10)
    app.request_stop()
    await asyncio.wait_for(run, 10)
    assert adapter.stops == 1


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_gracefully(tmp_path: Path, number: signal.Signals) -> None:
    adapter = FakeAdapter(finish=False)
    app = Application(settings_for(tmp_path), adapters=plugins(lambda handler: adapter))
    run = asyncio.create_task(app.run())
    await asyncio.wait_for(adapter.running.wait(), 10)
    os.kill(os.getpid(), number)
    await asyncio.wait_for(run, 10)
    assert adapter.stops == 1
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


async def test_an_adapter_that_will_not_stop_is_cancelled(tmp_path: Path) -> None:
    class Stubborn(FakeAdapter):
        cancelled = False

        async def stop(self) -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                self.cancelled = True
                raise

    adapter = Stubborn(finish=False)
    app = Application(
        settings_for(tmp_path), adapters=plugins(lambda handler: adapter), stop_timeout=0.05
    )
    run = asyncio.create_task(app.run())
    await asyncio.wait_for(adapter.running.wait(), 10)
    app.request_stop()
    await asyncio.wait_for(run, 10)
    assert adapter.cancelled and run.exception() is None


async def test_retention_cleanup_runs_once_at_start(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, retention_days=30)
    store = await open_store(settings.storage.url)
    clock = ManualClock(datetime.now(UTC) - timedelta(days=60))
    manager = build_manager(store, settings, clock=clock)
    old, _ = await manager.sessions.start_new(
        Inbound("console", "c", "alice", "x"), ArchiveReason.NEW
    )
    await manager.sessions.start_new(Inbound("console", "c", "alice", "x"), ArchiveReason.NEW)
    clock.set(datetime.now(UTC))
    await manager.sessions.start_new(Inbound("console", "c", "alice", "x"), ArchiveReason.NEW)
    await store.close()

    await Application(settings, adapters=plugins(lambda handler: FakeAdapter())).run()

    async with opened_manager(settings) as manager:
        left = await manager.sessions.list(SessionFilter())
    assert old.id not in {session.id for session in left}
    assert len(left) == 2


async def test_configured_resets_apply(tmp_path: Path) -> None:
    raw = {
        "storage": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
        "sessions": {"idle_reset_minutes": 60},
    }
    settings = validate_settings(raw, label="test")
    store = await open_store(settings.storage.url)
    clock = ManualClock(datetime.now(UTC) - timedelta(hours=2))
    stale = (await build_manager(store, settings, clock=clock).resolve(ALICE)).session
    await store.close()

    adapter = FakeAdapter(lines=("hello",))
    adapter_plugins = plugins(lambda handler: setattr(adapter, "handler", handler) or adapter)
    await Application(settings, adapters=adapter_plugins).run()

    (reply,) = adapter.replies
    notice, answer = reply.split("\n\n")
    assert f"/session resume {stale.id}" in notice
    assert answer == "echo: hello"
