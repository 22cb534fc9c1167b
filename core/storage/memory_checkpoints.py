"""Checkpoints in memory: the part of :class:`~core.storage.memory.MemoryStore` for them."""

from __future__ import annotations

import dataclasses

from core.models import Checkpoint


class MemoryCheckpoints:
    """Checkpoints by id, in a dictionary."""

    def __init__(self) -> None:
        super().__init__()
        self._checkpoints: dict[str, Checkpoint] = {}

    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """See :meth:`core.storage.protocols.Store.add_checkpoint`."""
        self._checkpoints[checkpoint.id] = checkpoint

    async def get_checkpoint(self, checkpoint_id: str) -> Checkpoint | None:
        """See :meth:`core.storage.protocols.Store.get_checkpoint`."""
        return self._checkpoints.get(checkpoint_id)

    async def list_checkpoints(self, session_id: str) -> list[Checkpoint]:
        """See :meth:`core.storage.protocols.Store.list_checkpoints`."""
        found = [c for c in self._checkpoints.values() if c.session_id == session_id]
        return sorted(found, key=lambda c: (c.created_at, c.id))

    async def delete_checkpoint(self, checkpoint_id: str) -> bool:
        """See :meth:`core.storage.protocols.Store.delete_checkpoint`."""
        return self._checkpoints.pop(checkpoint_id, None) is not None

    async def rewrite_checkpoint(self, checkpoint: Checkpoint) -> None:
        """See :meth:`core.storage.protocols.Store.rewrite_checkpoint`."""
        old = self._checkpoints.get(checkpoint.id)
        if old is not None:
            self._checkpoints[checkpoint.id] = dataclasses.replace(
                old, name=checkpoint.name, description=checkpoint.description
            )

    async def count_checkpoints(self, session_id: str) -> int:
        """See :meth:`core.storage.protocols.Store.count_checkpoints`."""
        return sum(1 for c in self._checkpoints.values() if c.session_id == session_id)
