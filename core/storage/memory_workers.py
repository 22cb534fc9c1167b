"""Workers in memory: the part of :class:`~core.storage.memory.MemoryStore` for heartbeats."""

from __future__ import annotations

from datetime import datetime

from core.models import Worker


class MemoryWorkers:
    """The processes serving the store and their last heartbeats, in a dictionary."""

    def __init__(self) -> None:
        super().__init__()
        self._workers: dict[str, Worker] = {}

    async def beat(self, worker: Worker, *, forget_before: datetime) -> None:
        """See :meth:`core.storage.protocols.Store.beat`."""
        self._workers[worker.id] = worker
        for gone in [w.id for w in self._workers.values() if w.seen_at < forget_before]:
            del self._workers[gone]

    async def workers(self, seen_since: datetime) -> list[Worker]:
        """See :meth:`core.storage.protocols.Store.workers`."""
        alive = [w for w in self._workers.values() if w.seen_at >= seen_since]
        return sorted(alive, key=lambda w: (w.started_at, w.id))

    async def forget_worker(self, worker_id: str) -> None:
        """See :meth:`core.storage.protocols.Store.forget_worker`."""
        self._workers.pop(worker_id, None)
