"""Platform events handled once: claims on every backend and layer, across a reopen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.clock import ManualClock
from core.crypto.envelope import KeyEncryptionKey, decode_master_key, generate_master_key
from core.crypto.sealing import SealedStore
from core.storage.deliveries import KEEP, Deliveries
from core.storage.protocols import Backend, Store
from core.storage.records import DeliveryAnswer
from tests.core.conftest import sqlite_store
from tests.core.test_store_contract import (
    start,
    store,  # noqa: F401  (the layered fixture)
)

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


async def test_an_answer_is_kept_for_the_retry(store: Store) -> None:  # noqa: F811
    answer = DeliveryAnswer("s-1", '{"status": 200, "body": {"reply": "héllo"}}')
    assert await store.claim_delivery("api", "k1", T0) is True
    assert await store.delivery_answer("api", "k1") is None  # in flight: none yet
    await store.answer_delivery("api", "k1", T0, answer)
    assert await store.delivery_answer("api", "k1") == answer
    assert await store.delivery_finished("api", "k1") is True
    assert await store.delivery_answer("api", "k2") is None  # never claimed
    await store.answer_delivery("api", "k2", T0, answer)  # nor kept unclaimed
    assert await store.delivery_answer("api", "k2") is None


async def test_a_released_claim_can_be_taken_again(store: Store) -> None:  # noqa: F811
    assert await store.claim_delivery("api", "k1", T0) is True
    await store.release_delivery("api", "k1")
    assert await store.delivery_finished("api", "k1") is None
    assert await store.claim_delivery("api", "k1", T0) is True
    await store.answer_delivery("api", "k1", T0, DeliveryAnswer("s-1", "{}"))
    await store.release_delivery("api", "k1")  # a finished claim stays
    assert await store.claim_delivery("api", "k1", T0) is False
    assert await store.delivery_answer("api", "k1") == DeliveryAnswer("s-1", "{}")


async def test_forgetting_a_delivery_forgets_its_answer(store: Store) -> None:  # noqa: F811
    await store.claim_delivery("api", "k1", T0)
    await store.answer_delivery("api", "k1", T0, DeliveryAnswer("s-1", "{}"))
    assert await store.forget_deliveries(T0 + timedelta(seconds=1)) == 1
    assert await store.delivery_answer("api", "k1") is None


async def test_an_answer_is_sealed_and_shredded_with_its_session(backend: Backend) -> None:
    sealed = SealedStore(
        backend, KeyEncryptionKey(decode_master_key(generate_master_key(), source="t"))
    )
    await sealed.check_key()
    session = await start(sealed)
    await sealed.claim_delivery("api", "k1", T0)
    await sealed.answer_delivery("api", "k1", T0, DeliveryAnswer(session.id, "the secret reply"))
    raw = await backend.delivery_answer("api", "k1")
    assert raw is not None and "secret" not in raw.text
    opened = await sealed.delivery_answer("api", "k1")
    assert opened == DeliveryAnswer(session.id, "the secret reply")
    assert await sealed.delete_session(session.id) is True
    assert await sealed.delivery_answer("api", "k1") is None  # its key went with it
