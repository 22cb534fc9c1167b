"""Activity in memory: the part of :class:`~core.storage.memory.MemoryStore` counting it."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from core.models import ArchiveReason, Message, Role, Session


class MemoryActivity:
    """Counts over the store's dictionaries (it keeps ``_sessions`` and ``_messages``)."""

    _sessions: dict[str, Session]
    _messages: dict[str, list[Message]]

    async def messages_per_minute(self, since: datetime) -> dict[datetime, int]:
        """See :meth:`core.storage.protocols.Store.messages_per_minute`."""
        minutes = Counter(
            message.created_at.replace(second=0, microsecond=0)
            for branch in self._messages.values()
            for message in branch
            if message.role is Role.USER and message.created_at >= since
        )
        return dict(minutes)

    async def sessions_ended(self, since: datetime) -> dict[ArchiveReason, int]:
        """See :meth:`core.storage.protocols.Store.sessions_ended`."""
        reasons = Counter(
            session.archive_reason
            for session in self._sessions.values()
            if session.archived_at is not None
            and session.archived_at >= since
            and session.archive_reason is not None
        )
        return dict(reasons)
