"""The bot's own records, beside the conversations: redeliveries, workers, API keys.

Part of the :class:`~core.storage.protocols.Store` protocol, kept apart because none
of it is session data: platform event ids already handled, the heartbeats of the
processes serving the store, and the keys of the HTTP API.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple, Protocol

from core.api_keys import ApiKey
from core.models import Worker


class DeliveryAnswer(NamedTuple):
    """The answer kept for a handled request, so a retry of it gets the same one.

    Attributes:
        session_id: the session the answer is about: with encryption on, the answer
            is sealed under that session's key, and unreadable once it is deleted.
        text: the answer, as the adapter serialised it.
    """

    session_id: str
    text: str


class Records(Protocol):
    """Deliveries, worker heartbeats and API keys, as every backend keeps them."""

    # -- deliveries -------------------------------------------------------------

    async def claim_delivery(
        self, source: str, delivery_id: str, at: datetime, *, worker_id: str | None = None
    ) -> bool:
        """Record that a platform event is being handled; ``False`` if it was already.

        Platforms redeliver an event they think was lost (Slack retries by
        ``event_id``); only the first claim of an id, in any process, at any
        time until :meth:`forget_deliveries` drops it, returns ``True``.
        ``worker_id`` names the claiming worker (its heartbeat row), so that
        another may take the event over should it die (:meth:`take_over_delivery`).
        """
        ...

    async def take_over_delivery(
        self, source: str, delivery_id: str, at: datetime, *, worker_id: str, alive_since: datetime
    ) -> bool:
        """Take over a claim whose worker died before it finished; ``True`` if taken.

        Only an unfinished claim made by a named worker (not ``worker_id``) whose
        last heartbeat is before ``alive_since``, or gone, is taken; of several
        workers taking it at once, one succeeds.
        """
        ...

    async def finish_delivery(self, source: str, delivery_id: str, at: datetime) -> None:
        """Record that a claimed platform event has been handled."""
        ...

    async def delivery_finished(self, source: str, delivery_id: str) -> bool | None:
        """Whether a claimed event has been handled; ``None`` if it was never claimed.

        ``False`` means another process claimed it and is handling it, or died doing so.
        """
        ...

    async def forget_deliveries(self, before: datetime) -> int:
        """Drop the deliveries claimed before ``before``; return how many."""
        ...

    async def answer_delivery(
        self, source: str, delivery_id: str, at: datetime, answer: DeliveryAnswer
    ) -> None:
        """Record that a claimed event has been handled, keeping the answer it got.

        Like :meth:`finish_delivery`; a claim no longer recorded stays unrecorded.
        """
        ...

    async def delivery_answer(self, source: str, delivery_id: str) -> DeliveryAnswer | None:
        """Return the answer kept by :meth:`answer_delivery`, or ``None`` (none kept yet)."""
        ...

    async def release_delivery(self, source: str, delivery_id: str) -> None:
        """Drop a claim not finished, so the event can be claimed again.

        For an event whose handling failed before it changed anything: its retry is
        handled as new. A finished claim is kept.
        """
        ...

    # -- workers ----------------------------------------------------------------

    async def beat(self, worker: Worker, *, forget_before: datetime) -> None:
        """Record a worker's heartbeat (insert or replace its row).

        Rows of workers not seen since ``forget_before`` (gone without saying so)
        are dropped in the same call.
        """
        ...

    async def workers(self, seen_since: datetime) -> list[Worker]:
        """Return the workers whose last heartbeat is at or after ``seen_since``, oldest first."""
        ...

    async def forget_worker(self, worker_id: str) -> None:
        """Drop a worker's row (it is stopping)."""
        ...

    # -- API keys -------------------------------------------------------------

    async def add_api_key(self, key: ApiKey) -> None:
        """Store an API key (its id is new)."""
        ...

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        """Return the API key with this id, revoked or not."""
        ...

    async def list_api_keys(self) -> list[ApiKey]:
        """Return every API key, oldest first (ties by id)."""
        ...

    async def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        """Revoke a key at ``at`` unless it is revoked already; tell whether it was live."""
        ...
