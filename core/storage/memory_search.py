"""Search in the memory backend: the part of :class:`~core.storage.memory.MemoryStore`.

It answers as the SQL backends do (plain messages by their words, sealed ones through
blind-index terms), by looking at the named sessions' messages one by one.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.models import Message
from core.storage.search import BlindTerms, TextSearch
from core.words import words_of

_SEALED = "sb:aes256gcm:"
"""Sealed content (:mod:`core.crypto.envelope`): never indexed by its words."""


class MemorySearch:
    """Full-text and blind-index search over the messages a memory store keeps."""

    _message_ids: dict[str, Message]

    def __init__(self) -> None:
        # session id -> key version -> message id -> terms
        self._blind: dict[str, dict[int, dict[str, set[str]]]] = {}

    async def search_messages(
        self, search: TextSearch, *, limit: int, offset: int = 0
    ) -> list[Message]:
        """See :meth:`core.storage.protocols.Store.search_messages`."""
        if not search.words:
            return []
        sessions = set(search.session_ids)
        wanted = set(search.words)
        found = [
            m
            for m in self._message_ids.values()
            if m.session_id in sessions and wanted <= self._words(m, search.blind_version)
        ]
        found.sort(key=lambda m: (m.created_at, m.seq, m.id), reverse=True)
        return found[offset : offset + limit]

    def _words(self, message: Message, blind_version: int | None) -> set[str]:
        if blind_version is not None:
            terms = self._blind.get(message.session_id, {}).get(blind_version, {})
            return terms.get(message.id, set())
        if message.content.startswith(_SEALED):
            return set()
        return set(words_of(message.content))

    async def add_blind_terms(self, entries: Sequence[BlindTerms]) -> None:
        """See :meth:`core.storage.protocols.Store.add_blind_terms`."""
        for entry in entries:
            by_version = self._blind.setdefault(entry.session_id, {})
            by_version.setdefault(entry.version, {}).setdefault(entry.message_id, set()).update(
                entry.terms
            )

    async def drop_blind_terms(self, keep_version: int) -> int:
        """See :meth:`core.storage.protocols.Store.drop_blind_terms`."""
        dropped = 0
        for by_version in self._blind.values():
            for version in [v for v in by_version if v != keep_version]:
                dropped += sum(len(terms) for terms in by_version.pop(version).values())
        return dropped

    def forget_blind_terms(self, session_id: str) -> None:
        """Drop a deleted session's terms."""
        self._blind.pop(session_id, None)
