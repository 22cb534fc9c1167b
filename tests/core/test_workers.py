"""Heartbeats of the processes serving a store, on every backend and layer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.models import Worker
from core.storage.protocols import Store
from tests.core.test_store_contract import store  # noqa: F401  (the layered fixture)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def worker(worker_id: str, seen: datetime, *roles: str) -> Worker:
    return Worker(worker_id, "host-a", 4242, T0, seen, roles)


async def test_a_heartbeat_replaces_the_last_and_old_rows_go(store: Store) -> None:  # noqa: F811
    await store.beat(worker("one", T0, "scheduler"), forget_before=T0 - timedelta(days=1))
    await store.beat(worker("two", T0), forget_before=T0 - timedelta(days=1))
    later = T0 + timedelta(seconds=10)
    await store.beat(
        worker("one", later, "scheduler", "telegram-polling"), forget_before=T0 - timedelta(days=1)
    )
    assert await store.workers(T0) == [
        worker("one", later, "scheduler", "telegram-polling"),
        worker("two", T0),
    ]
    assert [w.id for w in await store.workers(T0 + timedelta(seconds=5))] == ["one"]
    # Two days on, a beat drops the rows of workers gone without a word.
    far = T0 + timedelta(days=2)
    await store.beat(worker("three", far), forget_before=far - timedelta(days=1))
    assert [w.id for w in await store.workers(T0 - timedelta(days=9))] == ["three"]


async def test_a_stopping_worker_is_forgotten(store: Store) -> None:  # noqa: F811
    await store.beat(worker("one", T0), forget_before=T0 - timedelta(days=1))
    await store.forget_worker("one")
    await store.forget_worker("never-seen")
    assert await store.workers(T0 - timedelta(days=1)) == []
