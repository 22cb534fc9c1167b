from __future__ import annotations

import asyncio

import pytest

from bot.supervisor import AdapterSupervisor
from core.backoff import Backoff
from tests.bot.fakes import FakeAdapter

FAST = Backoff(initial=0.001, factor=2.0, maximum=0.01)


def test_backoff_grows_and_is_capped() -> None:
    backoff = Backoff(initial=1, factor=2, maximum=60)
    assert [backoff.delay(n) for n in (1, 2, 3, 7, 20)] == [1, 2, 4, 60, 60]


async def test_an_adapter_that_finishes_ends_the_run() -> None:
    adapter = FakeAdapter()
    await asyncio.wait_for(AdapterSupervisor(adapter).run(), 2)
    assert adapter.starts == 1


async def test_a_failing_adapter_is_restarted_with_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    adapter = FakeAdapter(fail_starts=3)
    supervisor = AdapterSupervisor(adapter, backoff=FAST)
    await asyncio.wait_for(supervisor.run(), 2)
    assert adapter.starts == 4
    assert supervisor.failures == supervisor.restarts == 3
    assert not supervisor.running  # it finished by itself
    assert caplog.text.count("adapter fake failed; restarting in") == 3
    assert "cannot connect" in caplog.text


async def test_a_long_run_resets_the_failure_streak() -> None:
    ticks = iter([0.0, 0.0, 100.0, 200.0, 200.0, 200.0])
    adapter = FakeAdapter(fail_starts=2)
    supervisor = AdapterSupervisor(adapter, backoff=FAST, monotonic=lambda: next(ticks))
    await asyncio.wait_for(supervisor.run(), 2)
    assert supervisor.failures == 1


async def test_one_failing_adapter_does_not_stop_another() -> None:
    broken = FakeAdapter(name="broken", fail_starts=1_000_000)
    healthy = FakeAdapter(name="healthy", finish=False)
    supervisors = [AdapterSupervisor(a, backoff=FAST) for a in (broken, healthy)]
    runs = [asyncio.create_task(s.run()) for s in supervisors]
    await asyncio.wait_for(healthy.running.wait(), 2)
    await asyncio.wait_for(broken.until_started(3), 2)  # restarted, again and again
    assert not runs[1].done()
    # What readiness checks and metrics read: running or not, restarts so far.
    assert supervisors[1].running and supervisors[1].restarts == 0
    assert supervisors[0].restarts >= 2
    for supervisor in supervisors:
        await supervisor.stop()
    await asyncio.wait_for(asyncio.gather(*runs), 2)
    assert healthy.stops >= 1
    assert not any(supervisor.running for supervisor in supervisors)


async def test_stop_cuts_a_backoff_pause_short() -> None:
    adapter = FakeAdapter(fail_starts=1_000_000)
    supervisor = AdapterSupervisor(adapter, backoff=Backoff(initial=3600))
    run = asyncio.create_task(supervisor.run())
    await asyncio.wait_for(adapter.until_started(1), 2)  # failed: an hour's pause begins
    await supervisor.stop()
    await asyncio.wait_for(run, 2)
    assert adapter.starts == 1
