"""Deliveries in memory: the part of :class:`~core.storage.memory.MemoryStore` for redeliveries."""

from __future__ import annotations

from datetime import datetime

from core.storage.records import DeliveryAnswer


class MemoryDeliveries:
    """The ids of platform events already handled, in a dictionary."""

    def __init__(self) -> None:
        super().__init__()
        self._deliveries: dict[tuple[str, str], datetime] = {}
        self._finished: set[tuple[str, str]] = set()
        self._answers: dict[tuple[str, str], DeliveryAnswer] = {}

    async def claim_delivery(self, source: str, delivery_id: str, at: datetime) -> bool:
        """See :meth:`core.storage.protocols.Store.claim_delivery`."""
        if (source, delivery_id) in self._deliveries:
            return False
        self._deliveries[source, delivery_id] = at
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
