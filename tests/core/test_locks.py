from __future__ import annotations

import asyncio

import pytest

from core.locks import KeyedLocks


async def test_one_key_is_held_by_one_task_at_a_time_in_arrival_order() -> None:
    locks = KeyedLocks()
    order: list[str] = []
    gate = asyncio.Event()

    async def hold(name: str, wait: bool) -> None:
        async with locks.lock_for("alice"):
            order.append(f"{name} in")
            if wait:
                await gate.wait()
            order.append(f"{name} out")

    first = asyncio.create_task(hold("first", True))
    await asyncio.sleep(0)
    others = [asyncio.create_task(hold(name, False)) for name in ("second", "third")]
    await asyncio.sleep(0)
    assert order == ["first in"]
    gate.set()
    await asyncio.gather(first, *others)
    assert order == [
        "first in",
        "first out",
        "second in",
        "second out",
        "third in",
        "third out",
    ]


async def test_a_held_key_never_holds_up_another() -> None:
    locks = KeyedLocks()
    gate = asyncio.Event()

    async def hold_long() -> None:
        async with locks.lock_for("alice"):
            await gate.wait()

    long = asyncio.create_task(hold_long())
    await asyncio.sleep(0)
    for i in range(1_000):
        async with asyncio.timeout(1):
            async with locks.lock_for(f"user{i}"):
                assert len(locks) == 2  # alice's, still held, and this one
    assert not long.done()
    gate.set()
    await long


async def test_a_key_is_forgotten_once_nobody_holds_or_awaits_it() -> None:
    locks = KeyedLocks()
    for i in range(100):
        async with locks.lock_for(f"user{i}"):
            assert len(locks) == 1
    assert len(locks) == 0


async def test_a_task_cancelled_while_waiting_leaves_nothing_behind() -> None:
    locks = KeyedLocks()
    gate = asyncio.Event()

    async def hold() -> None:
        async with locks.lock_for("alice"):
            await gate.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.set()
    await holder
    assert len(locks) == 0
    async with asyncio.timeout(1):
        async with locks.lock_for("alice"):
            assert len(locks) == 1


async def test_a_failure_inside_releases_the_key() -> None:
    locks = KeyedLocks()
    with pytest.raises(RuntimeError):
        async with locks.lock_for("alice"):
            raise RuntimeError("boom")
    assert len(locks) == 0
    async with asyncio.timeout(1):
        async with locks.lock_for("alice"):
            assert len(locks) == 1
