"""Platform events handled once: redeliveries recognised by their id, across restarts.

A platform that got no answer in time delivers an event again (Slack retries by
``event_id``, up to three times over a few minutes), possibly to a process that
restarted meanwhile. :class:`Deliveries` records each event's id in the store
before it is handled, so a redelivery, in this process or another, is dropped.
"""

from __future__ import annotations

from datetime import timedelta

from core.clock import Clock
from core.storage.protocols import Store
from core.storage.records import DeliveryAnswer

KEEP = timedelta(days=1)
"""How long an event id is remembered: far longer than any platform retries."""

PRUNE_EVERY = timedelta(hours=1)
"""How often ids older than :data:`KEEP` are dropped from the store."""


class Deliveries:
    """Tells whether a platform event is seen for the first time, and records it.

    Args:
        store: where the ids are kept (the store every process shares).
        clock: the time each id is recorded at.
        keep: how long an id is remembered.
    """

    def __init__(self, store: Store, clock: Clock, *, keep: timedelta = KEEP) -> None:
        self._store = store
        self._clock = clock
        self._keep = keep
        self._pruned_at = clock.now() - PRUNE_EVERY
        self._worker_id: str | None = None
        self._alive_within = timedelta(0)

    def serve_as(self, worker_id: str, alive_within: timedelta) -> None:
        """Claim events in the name of this worker (its heartbeat row's id).

        A worker whose heartbeat is older than ``alive_within`` counts as dead: what
        it claimed and did not finish, another worker may take over
        (:meth:`take_over`). Without this, claims name no worker and are never
        taken over.
        """
        self._worker_id = worker_id
        self._alive_within = alive_within

    async def first_time(self, source: str, delivery_id: str) -> bool:
        """Record ``delivery_id`` of ``source``; ``False`` if it was recorded before.

        An event is claimed before it is handled, so one cut short by a crash is
        not handled again: a redelivery is never answered or stored twice.

        Args:
            source: the platform (or app) the id belongs to, such as ``"slack"``.
            delivery_id: the platform's id of the event.
        """
        now = self._clock.now()
        if now - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = now
            await self._store.forget_deliveries(now - self._keep)
        return await self._store.claim_delivery(source, delivery_id, now, worker_id=self._worker_id)

    async def take_over(self, source: str, delivery_id: str) -> bool:
        """Take over an event whose claiming worker died before finishing it.

        ``True``: it is this worker's now, to be handled as a redelivery (what the
        dead worker had stored of it is recognised; see ``Inbound.redelivered``).
        ``False``: its worker lives (or is unknown), or it was finished meanwhile.
        """
        if self._worker_id is None:
            return False
        now = self._clock.now()
        return await self._store.take_over_delivery(
            source,
            delivery_id,
            now,
            worker_id=self._worker_id,
            alive_since=now - self._alive_within,
        )

    async def finish(self, source: str, delivery_id: str) -> None:
        """Record that the event claimed by :meth:`first_time` has been handled."""
        await self._store.finish_delivery(source, delivery_id, self._clock.now())

    async def finished(self, source: str, delivery_id: str) -> bool:
        """Whether an event already claimed has been handled.

        ``False`` while another worker is handling it (or if it died doing so): a
        platform that redelivers can be told to try again later.
        """
        return await self._store.delivery_finished(source, delivery_id) is not False

    async def keep_answer(self, source: str, delivery_id: str, answer: DeliveryAnswer) -> None:
        """Record that a claimed request has been handled, with the answer it got.

        A retry of it (:meth:`answer` on any worker) gets that same answer.
        """
        await self._store.answer_delivery(source, delivery_id, self._clock.now(), answer)

    async def answer(self, source: str, delivery_id: str) -> DeliveryAnswer | None:
        """Return the answer kept for a request, or ``None`` (none yet, or unreadable)."""
        return await self._store.delivery_answer(source, delivery_id)

    async def release(self, source: str, delivery_id: str) -> None:
        """Drop the claim of a request that changed nothing, so a retry runs anew."""
        await self._store.release_delivery(source, delivery_id)
