"""Deliveries in memory: the part of :class:`~core.storage.memory.MemoryStore` for redeliveries."""

from __future__ import annotations

from datetime import datetime

from core.models import Worker
from core.storage.records import DeliveryAnswer


class MemoryDeliveries:
    """The ids of platform events already handled, in a dictionary.

    The store keeps ``_workers`` (the heartbeats) beside, for take-overs.
    """

    _workers: dict[str, Worker]

    def __init__(self) -> None:
        super().__init__()
        self._deliveries: dict[tuple[str, str], datetime] = {}
        self._claimers: dict[tuple[str, str], str] = {}
        self._finished: set[tuple[str, str]] = set()
        self._answers: dict[tuple[str, str], DeliveryAnswer] = {}

    async def claim_delivery(
        self, source: str, delivery_id: str, at: datetime, *, worker_id: str | None = None
    ) -> bool:
        """See :meth:`core.storage.protocols.Store.claim_delivery`."""
        if (source, delivery_id) in self._deliveries:
            return False
        self._deliveries[source, delivery_id] = at
        if worker_id is not None:
            self._claimers[source, delivery_id] = worker_id
        return True

    async def take_over_delivery(
        self, source: str, delivery_id: str, at: datetime, *, worker_id: str, alive_since: datetime
    ) -> bool:
        """See :meth:`core.storage.protocols.Store.take_over_delivery`."""
        key = (source, delivery_id)
        claimer = self._claimers.get(key)
        if key not in self._deliveries or key in self._finished or claimer in (None, worker_id):
            return False
        holder = self._workers.get(claimer or "")
        if holder is not None and holder.seen_at >= alive_since:
            return False
        self._deliveries[key] = at
        self._claimers[key] = worker_id
        return True

    async def finish_delivery(self, source: str, delivery_id: str, at: datetime) -> None:
        """See :meth:`core.storage.protocols.Store.finish_delivery`."""
        if (source, delivery_id) in self._deliveries:
            self._finished.add((source, delivery_id))

    async def delivery_finished(self, source: str, delivery_id: str) -> bool | None:
        """See :meth:`core.storage.protocols.Store.delivery_finished`."""
        if (source, delivery_id) not in self._deliveries:
            return None
        return (source, delivery_id) in self._finished

    async def forget_deliveries(self, before: datetime) -> int:
        """See :meth:`core.storage.protocols.Store.forget_deliveries`."""
        old = [key for key, at in self._deliveries.items() if at < before]
        for key in old:
            del self._deliveries[key]
            self._claimers.pop(key, None)
            self._finished.discard(key)
            self._answers.pop(key, None)
        return len(old)

    async def answer_delivery(
        self, source: str, delivery_id: str, at: datetime, answer: DeliveryAnswer
    ) -> None:
        """See :meth:`core.storage.protocols.Store.answer_delivery`."""
        if (source, delivery_id) in self._deliveries:
            self._finished.add((source, delivery_id))
            self._answers[source, delivery_id] = answer

    async def delivery_answer(self, source: str, delivery_id: str) -> DeliveryAnswer | None:
        """See :meth:`core.storage.protocols.Store.delivery_answer`."""
        return self._answers.get((source, delivery_id))

    async def release_delivery(self, source: str, delivery_id: str) -> None:
        """See :meth:`core.storage.protocols.Store.release_delivery`."""
        if (source, delivery_id) not in self._finished:
            self._deliveries.pop((source, delivery_id), None)
            self._claimers.pop((source, delivery_id), None)
