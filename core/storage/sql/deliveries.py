"""Deliveries in SQL: the part of :class:`~core.storage.sql.store.SqlStore` for redeliveries."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from core.storage.records import DeliveryAnswer
from core.storage.sql.schema import deliveries, workers
from core.storage.sql.units import DIALECTS, SqlPart, first, rowcount

_CLAIM = {
    name: dml.insert(deliveries).on_conflict_do_nothing(
        index_elements=[deliveries.c.source, deliveries.c.delivery_id]
    )
    for name, dml, _ in DIALECTS
}
"""Record a delivery unless it is recorded already; the values come as parameters."""


class SqlDeliveries(SqlPart):
    """The ids of platform events already handled (see :meth:`Store.claim_delivery`)."""

    async def claim_delivery(
        self, source: str, delivery_id: str, at: datetime, *, worker_id: str | None = None
    ) -> bool:
        """See :meth:`core.storage.protocols.Store.claim_delivery`."""
        claim = _CLAIM[self._dialect].values(
            source=source, delivery_id=delivery_id, received_at=at, worker_id=worker_id
        )
        return await self._write_quick(rowcount, claim) == 1

    async def take_over_delivery(
        self, source: str, delivery_id: str, at: datetime, *, worker_id: str, alive_since: datetime
    ) -> bool:
        """See :meth:`core.storage.protocols.Store.take_over_delivery`."""
        alive = sa.select(workers.c.id).where(workers.c.seen_at >= alive_since)
        claimer = deliveries.c.worker_id
        take = (
            sa.update(deliveries)
            .where(
                deliveries.c.source == source,
                deliveries.c.delivery_id == delivery_id,
                deliveries.c.finished_at.is_(None),
                claimer.is_not(None),
                claimer != worker_id,
                claimer.not_in(alive),
            )
            .values(worker_id=worker_id, received_at=at)
        )
        # One statement: of two workers taking it at once, the second finds the
        # claim held by the first, alive, and changes nothing.
        return await self._write_quick(rowcount, take) == 1

    async def finish_delivery(self, source: str, delivery_id: str, at: datetime) -> None:
        """See :meth:`core.storage.protocols.Store.finish_delivery`."""
        finish = (
            sa.update(deliveries)
            .where(deliveries.c.source == source, deliveries.c.delivery_id == delivery_id)
            .values(finished_at=at)
        )
        await self._write_quick(rowcount, finish)

    async def delivery_finished(self, source: str, delivery_id: str) -> bool | None:
        """See :meth:`core.storage.protocols.Store.delivery_finished`."""
        query = sa.select(deliveries.c.finished_at).where(
            deliveries.c.source == source, deliveries.c.delivery_id == delivery_id
        )
        row = await self._read(first, query)
        return None if row is None else row["finished_at"] is not None

    async def forget_deliveries(self, before: datetime) -> int:
        """See :meth:`core.storage.protocols.Store.forget_deliveries`."""
        forget = sa.delete(deliveries).where(deliveries.c.received_at < before)
        return await self._write_quick(rowcount, forget)

    async def answer_delivery(
        self, source: str, delivery_id: str, at: datetime, answer: DeliveryAnswer
    ) -> None:
        """See :meth:`core.storage.protocols.Store.answer_delivery`."""
        finish = (
            sa.update(deliveries)
            .where(deliveries.c.source == source, deliveries.c.delivery_id == delivery_id)
            .values(finished_at=at, answer_session=answer.session_id, answer=answer.text)
        )
        await self._write_quick(rowcount, finish)

    async def delivery_answer(self, source: str, delivery_id: str) -> DeliveryAnswer | None:
        """See :meth:`core.storage.protocols.Store.delivery_answer`."""
        query = sa.select(deliveries.c.answer_session, deliveries.c.answer).where(
            deliveries.c.source == source, deliveries.c.delivery_id == delivery_id
        )
        row = await self._read(first, query)
        if row is None or row["answer"] is None:
            return None
        return DeliveryAnswer(row["answer_session"], row["answer"])

    async def release_delivery(self, source: str, delivery_id: str) -> None:
        """See :meth:`core.storage.protocols.Store.release_delivery`."""
        release = sa.delete(deliveries).where(
            deliveries.c.source == source,
            deliveries.c.delivery_id == delivery_id,
            deliveries.c.finished_at.is_(None),
        )
        await self._write_quick(rowcount, release)
