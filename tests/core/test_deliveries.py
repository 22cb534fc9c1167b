"""Platform events handled once: claims on every backend and layer, across a reopen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.clock import ManualClock
from core.crypto.envelope import KeyEncryptionKey, decode_master_key, generate_master_key
from core.crypto.sealing import SealedStore
from core.models import Worker
from core.storage.deliveries import KEEP, Deliveries
from core.storage.memory import MemoryStore
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


def worker(worker_id: str, seen_at: datetime) -> Worker:
    return Worker(id=worker_id, host="h", pid=1, started_at=T0, seen_at=seen_at, roles=())


async def test_a_claim_of_a_worker_that_died_is_taken_over_once(store: Store) -> None:  # noqa: F811
    now = T0 + timedelta(minutes=5)
    alive_since = now - timedelta(seconds=30)
    await store.beat(worker("alive", now), forget_before=T0)
    await store.beat(worker("quiet", now - timedelta(minutes=2)), forget_before=T0)
    await store.beat(worker("other", now), forget_before=T0)
    for delivery_id, claimer in (("d1", "gone"), ("d2", "quiet"), ("d3", "alive"), ("d4", None)):
        assert await store.claim_delivery("tg", delivery_id, T0, worker_id=claimer)
    await store.claim_delivery("tg", "d5", T0, worker_id="gone")
    await store.finish_delivery("tg", "d5", T0)

    async def take(delivery_id: str, by: str = "alive") -> bool:
        return await store.take_over_delivery(
            "tg", delivery_id, now, worker_id=by, alive_since=alive_since
        )

    assert await take("d1") is True  # its worker has no heartbeat row at all
    assert await take("d1", by="other") is False  # taken by a live worker now
    assert await take("d2") is True  # its worker stopped beating
    assert await take("d3", by="other") is False  # its worker lives
    assert await take("d4") is False  # no worker named: never taken over
    assert await take("d5") is False  # finished
    assert await take("nope") is False
    assert await store.delivery_finished("tg", "d1") is False  # still to be finished
    await store.finish_delivery("tg", "d1", now)
    assert await store.delivery_finished("tg", "d1") is True


async def test_deliveries_claim_in_the_workers_name_and_take_over() -> None:
    clock = ManualClock(T0)
    memory = MemoryStore()
    mine, theirs = Deliveries(memory, clock), Deliveries(memory, clock)
    assert await theirs.take_over("tg", "x") is False  # not serving as a worker yet
    mine.serve_as("w1", timedelta(seconds=30))
    theirs.serve_as("w2", timedelta(seconds=30))
    await memory.beat(worker("w1", T0), forget_before=T0)
    await memory.beat(worker("w2", T0), forget_before=T0)
    assert await mine.first_time("tg", "u1") is True
    assert await theirs.take_over("tg", "u1") is False  # w1 beats
    clock.advance(timedelta(seconds=31))
    await memory.beat(worker("w2", clock.now()), forget_before=T0)
    assert await theirs.take_over("tg", "u1") is True  # w1 went quiet
    assert await mine.take_over("tg", "u1") is False  # w2 beats
