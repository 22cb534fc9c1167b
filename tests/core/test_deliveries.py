"""Platform events handled once: claims on every backend and layer, across a reopen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.clock import ManualClock
from core.storage.deliveries import KEEP, Deliveries
from core.storage.protocols import Store
from tests.core.conftest import sqlite_store
from tests.core.test_store_contract import store  # noqa: F401  (the layered fixture)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_only_the_first_claim_of_an_id_wins(store: Store) -> None:  # noqa: F811
    assert await store.claim_delivery("slack", "Ev01", T0) is True
    assert await store.claim_delivery("slack", "Ev01", T0 + timedelta(seconds=1)) is False
    assert await store.claim_delivery("slack", "Ev02", T0) is True
    assert await store.claim_delivery("other", "Ev01", T0) is True  # sources apart


async def test_forgotten_deliveries_can_be_claimed_again(store: Store) -> None:  # noqa: F811
    await store.claim_delivery("slack", "old", T0)
    await store.claim_delivery("slack", "new", T0 + timedelta(hours=2))
    assert await store.forget_deliveries(T0 + timedelta(hours=1)) == 1
    assert await store.claim_delivery("slack", "old", T0 + timedelta(hours=3)) is True
    assert await store.claim_delivery("slack", "new", T0 + timedelta(hours=3)) is False


async def test_a_claim_survives_a_restart(tmp_path: Path) -> None:
    first = sqlite_store(tmp_path / "bot.db")
    await first.open()
    assert await first.claim_delivery("slack", "Ev01", T0) is True
    await first.close()
    again = sqlite_store(tmp_path / "bot.db")
    await again.open()
    try:
        assert await again.claim_delivery("slack", "Ev01", T0) is False
    finally:
        await again.close()


async def test_deliveries_prune_old_ids_as_time_passes(store: Store) -> None:  # noqa: F811
    clock = ManualClock(T0)
    deliveries = Deliveries(store, clock)
    assert await deliveries.first_time("slack", "Ev01") is True
    assert await deliveries.first_time("slack", "Ev01") is False
    clock.advance(KEEP + timedelta(hours=1))
    # Long after any retry, the id is forgotten, so the table stays small.
    assert await deliveries.first_time("slack", "Ev02") is True
    assert await store.claim_delivery("slack", "Ev01", clock.now()) is True
