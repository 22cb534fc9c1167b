"""Encryption at rest as a layer around any :class:`~core.storage.protocols.Store`.

:class:`SealedStore` seals what users wrote (message content and metadata, session
titles, tags and metadata, checkpoint names and descriptions) on the way in and opens
it on the way out; ids, roles, times and counts stay clear for queries. Backends never
see plain text of those fields and know nothing of keys.

Without a key it runs as the plain codec: it stores text in a format that coexists
with sealed values (:mod:`core.crypto.envelope`) and refuses an encrypted database.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from core.crypto.blind_index import BlindIndex
from core.crypto.data_keys import DataKeys
from core.crypto.envelope import (
    DecryptionError,
    KeyEncryptionKey,
    Sealer,
    is_sealed,
    open_plain,
    store_plain,
)
from core.crypto.replacing import replace_checkpoint, replace_message, replace_session
from core.crypto.sealed_answers import AnswerSealing
from core.crypto.sealed_filters import sessions_matching
from core.jsontext import json_text, parse_json_text
from core.models import (
    ArchiveReason,
    Branch,
    Checkpoint,
    Message,
    NewMessage,
    Session,
)
from core.storage.protocols import Backend, SessionFilter, SweepPlan
from core.storage.search import BlindTerms, TextSearch

log = logging.getLogger(__name__)

UNREADABLE_MESSAGE = "[unreadable message]"
UNREADABLE = "[unreadable]"
_SEALED_METADATA = "sb:sealed"


class SealedStore(AnswerSealing):
    """Wraps a store; seals user text under per-session data keys.

    Args:
        inner: the backend that keeps the rows.
        kek: the key-encryption key, or ``None`` when encryption is off.
        cache_size: how many unwrapped data keys to keep in memory.
    """

    def __init__(
        self, inner: Backend, kek: KeyEncryptionKey | None, *, cache_size: int = 1024
    ) -> None:
        super().__init__(inner)
        self.backend = inner
        """The same store as :attr:`inner`, with its keyring (operator tools, benchmarks)."""
        self._keys = DataKeys(inner, kek, cache_size=cache_size)
        self._index = None if kek is None else BlindIndex(kek)

    @property
    def encrypted(self) -> bool:
        """Whether new data is sealed."""
        return self._keys.encrypted

    async def open(self) -> None:
        """Open the backend and check the master key against the database.

        Raises:
            ConfigError: wrong master key, or an encrypted database without a key.
        """
        await self.inner.open()
        await self.check_key()

    async def check_key(self) -> None:
        """Check the master key against the database; see :meth:`DataKeys.check`.

        Raises:
            ConfigError: wrong master key, or an encrypted database without a key.
        """
        await self._keys.check()

    # -- sealing and opening values ---------------------------------------------

    @staticmethod
    def _seal(sealer: Sealer | None, text: str, context: str) -> str:
        return sealer.seal(text, context) if sealer is not None else store_plain(text)

    def _open(self, sealer: Sealer | None, value: str, context: str, fallback: str) -> str:
        try:
            return sealer.open(value, context) if sealer is not None else open_plain(value)
        except DecryptionError as error:
            why = str(error)
            if sealer is None and self.encrypted and is_sealed(value):
                why = "its session's data key is missing or does not unwrap"
            self._keys.report(context, why)
            return fallback

    def _seal_mapping(
        self, sealer: Sealer | None, data: Mapping[str, Any], context: str
    ) -> dict[str, Any]:
        if sealer is None or not data:
            return dict(data)
        return {_SEALED_METADATA: sealer.seal(json_text(dict(data)), context)}

    def _open_mapping(
        self, sealer: Sealer | None, data: Mapping[str, Any], context: str
    ) -> dict[str, Any]:
        sealed = data.get(_SEALED_METADATA)
        if not isinstance(sealed, str):
            return dict(data)
        opened = self._open(sealer, sealed, context, "")
        loaded = parse_json_text(opened) if opened else {}
        return loaded if isinstance(loaded, dict) else {}

    async def _seal_session(self, session: Session, *, new: bool = False) -> Session:
        sealer = await (
            self._keys.new_sealer(session.id) if new else self._keys.sealer(session.id, create=True)
        )
        prefix = f"session:{session.id}"
        return replace_session(
            session,
            title=None
            if session.title is None
            else self._seal(sealer, session.title, f"{prefix}:title"),
            tags=tuple(
                self._seal(sealer, tag, f"{prefix}:tag:{i}") for i, tag in enumerate(session.tags)
            ),
            metadata=self._seal_mapping(sealer, session.metadata, f"{prefix}:metadata"),
        )

    async def _open_session(self, session: Session | None) -> Session | None:
        if session is None:
            return None
        if session.title is None and not session.tags and not session.metadata:
            return session  # nothing sealed: spare the key look-up (scheduler passes)
        sealer = await self._keys.sealer(session.id, create=False)
        prefix = f"session:{session.id}"
        return replace_session(
            session,
            title=None
            if session.title is None
            else self._open(sealer, session.title, f"{prefix}:title", UNREADABLE),
            tags=tuple(
                self._open(sealer, tag, f"{prefix}:tag:{i}", UNREADABLE)
                for i, tag in enumerate(session.tags)
            ),
            metadata=self._open_mapping(sealer, session.metadata, f"{prefix}:metadata"),
        )

    async def _open_sessions(self, sessions: Sequence[Session]) -> list[Session]:
        return [s for s in [await self._open_session(s) for s in sessions] if s is not None]

    async def _seal_message(self, message: Message) -> Message:
        sealer = await self._keys.sealer(message.session_id, create=True)
        context = f"message:{message.session_id}:{message.id}"
        return replace_message(
            message,
            content=self._seal(sealer, message.content, context),
            metadata=self._seal_mapping(sealer, message.metadata, context + ":metadata"),
        )

    async def _open_message(self, message: Message) -> Message:
        return self._open_with(await self._keys.sealer(message.session_id, create=False), message)

    def _open_with(self, sealer: Sealer | None, message: Message) -> Message:
        context = f"message:{message.session_id}:{message.id}"
        return replace_message(
            message,
            content=self._open(sealer, message.content, context, UNREADABLE_MESSAGE),
            metadata=self._open_mapping(sealer, message.metadata, context + ":metadata"),
        )

    async def _seal_checkpoint(self, checkpoint: Checkpoint) -> Checkpoint:
        sealer = await self._keys.sealer(checkpoint.session_id, create=True)
        context = f"checkpoint:{checkpoint.session_id}:{checkpoint.id}"
        return replace_checkpoint(
            checkpoint,
            name=self._seal(sealer, checkpoint.name, context + ":name"),
            description=self._seal(sealer, checkpoint.description, context + ":description"),
        )

    async def _open_checkpoint(self, checkpoint: Checkpoint | None) -> Checkpoint | None:
        if checkpoint is None:
            return None
        sealer = await self._keys.sealer(checkpoint.session_id, create=False)
        context = f"checkpoint:{checkpoint.session_id}:{checkpoint.id}"
        return replace_checkpoint(
            checkpoint,
            name=self._open(sealer, checkpoint.name, context + ":name", UNREADABLE),
            description=self._open(sealer, checkpoint.description, context + ":description", ""),
        )

    # -- sessions ---------------------------------------------------------------

    async def start_session(
        self,
        session: Session,
        root: Branch,
        *,
        archive_id: str | None = None,
        archive_reason: ArchiveReason | None = None,
    ) -> Session:
        """See :meth:`core.storage.protocols.Store.start_session`; the data key is made first."""
        stored = await self.inner.start_session(
            # A new session's id is new: its key is made without looking for one.
            await self._seal_session(session, new=True),
            root,
            archive_id=archive_id,
            archive_reason=archive_reason,
        )
        if stored.id != session.id:
            # A concurrent writer won; the key made for the loser is shredded.
            await self._keys.delete(session.id)
        opened = await self._open_session(stored)
        assert opened is not None
        return opened

    async def get_session(self, session_id: str) -> Session | None:
        """See :meth:`core.storage.protocols.Store.get_session`."""
        return await self._open_session(await self.inner.get_session(session_id))

    async def get_active_session(self, scope_key: str) -> Session | None:
        """See :meth:`core.storage.protocols.Store.get_active_session`."""
        return await self._open_session(await self.inner.get_active_session(scope_key))

    async def list_sessions(
        self, where: SessionFilter, *, limit: int, offset: int = 0
    ) -> list[Session]:
        """See :meth:`core.storage.protocols.Store.list_sessions`."""
        if where.sealed_fields and (self.encrypted or where.holds_nul):
            return (await sessions_matching(self, where))[offset : offset + limit]
        found = await self.inner.list_sessions(where, limit=limit, offset=offset)
        return await self._open_sessions(found)

    async def count_sessions(self, where: SessionFilter) -> int:
        """See :meth:`core.storage.protocols.Store.count_sessions`."""
        if where.sealed_fields and (self.encrypted or where.holds_nul):
            return len(await sessions_matching(self, where))
        return await self.inner.count_sessions(where)

    async def activate_session(
        self, session_id: str, at: datetime, *, displaced_reason: ArchiveReason
    ) -> Session | None:
        """See :meth:`core.storage.protocols.Store.activate_session`."""
        activated = await self.inner.activate_session(
            session_id, at, displaced_reason=displaced_reason
        )
        return await self._open_session(activated)

    async def update_session(
        self,
        session_id: str,
        at: datetime,
        *,
        title: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        expect_updated_at: datetime | None = None,
    ) -> Session | None:
        """See :meth:`core.storage.protocols.Store.update_session`."""
        sealer = await self._keys.sealer(session_id, create=True)
        prefix = f"session:{session_id}"
        updated = await self.inner.update_session(
            session_id,
            at,
            title=None if title is None else self._seal(sealer, title, f"{prefix}:title"),
            tags=None
            if tags is None
            else [self._seal(sealer, t, f"{prefix}:tag:{i}") for i, t in enumerate(tags)],
            metadata=None
            if metadata is None
            else self._seal_mapping(sealer, metadata, f"{prefix}:metadata"),
            expect_updated_at=expect_updated_at,
        )
        return await self._open_session(updated)

    async def delete_session(self, session_id: str) -> bool:
        """See :meth:`core.storage.protocols.Store.delete_session`.

        The data key goes first: should the rest fail, or survive in a backup, the
        messages are already unreadable (crypto-shredding).
        """
        await self._keys.delete(session_id)
        return await self.inner.delete_session(session_id)

    async def archive_due(self, plan: SweepPlan, now: datetime) -> list[Session]:
        """See :meth:`core.storage.protocols.Store.archive_due`."""
        return await self._open_sessions(await self.inner.archive_due(plan, now))

    # -- branches and messages ------------------------------------------------

    async def switch_head(
        self, session_id: str, branch: Branch, at: datetime, *, undo: Checkpoint | None = None
    ) -> Session | None:
        """See :meth:`core.storage.protocols.Store.switch_head`."""
        sealed = await self._seal_checkpoint(undo) if undo is not None else None
        switched = await self.inner.switch_head(session_id, branch, at, undo=sealed)
        return await self._open_session(switched)

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[NewMessage],
        ids: Sequence[str],
        at: datetime,
        *,
        expect_head: str | None = None,
        blind_terms: Sequence[BlindTerms] = (),
    ) -> list[Message]:
        """See :meth:`core.storage.protocols.Store.append_messages`; indexed in its transaction."""
        if self._index is not None:
            texts = zip([session_id] * len(ids), ids, [m.content for m in messages], strict=True)
            blind_terms = [*blind_terms, *self._index.entries_of(texts)]
        sealer = await self._keys.sealer(session_id, create=True)
        sealed = [
            NewMessage(
                role=new.role,
                author=new.author,
                content=self._seal(sealer, new.content, f"message:{session_id}:{message_id}"),
                metadata=self._seal_mapping(
                    sealer, new.metadata, f"message:{session_id}:{message_id}:metadata"
                ),
                tokens_in=new.tokens_in,
                tokens_out=new.tokens_out,
            )
            for new, message_id in zip(messages, ids, strict=True)
        ]
        stored = await self.inner.append_messages(
            session_id, sealed, ids, at, expect_head=expect_head, blind_terms=blind_terms
        )
        if not stored:
            # No such session: the key just made for it would be an orphan.
            await self._keys.delete(session_id)
            return []
        return [
            replace_message(m, content=new.content, metadata=dict(new.metadata))
            for m, new in zip(stored, messages, strict=True)
        ]

    async def copy_messages(self, messages: Sequence[Message]) -> None:
        """See :meth:`core.storage.protocols.Store.copy_messages`."""
        await self.inner.copy_messages([await self._seal_message(m) for m in messages])
        await self._add_terms(messages)

    async def rewrite_messages(self, messages: Sequence[Message]) -> None:
        """See :meth:`core.storage.protocols.Store.rewrite_messages`.

        The terms go first: a run cut off in between leaves plain text that
        ``keys encrypt-existing`` seals when run again, never a sealed unindexed message.
        """
        await self._add_terms(messages)
        await self.inner.rewrite_messages([await self._seal_message(m) for m in messages])

    async def _add_terms(self, messages: Sequence[Message]) -> None:
        # Copies and rewrites (imports, detaching, key work) are indexed in a
        # transaction of their own, before or after them: see rewrite_messages.
        if self._index is not None:
            await self.inner.add_blind_terms(self._index.entries(messages))

    async def search_messages(
        self, search: TextSearch, *, limit: int, offset: int = 0
    ) -> list[Message]:
        """See :meth:`core.storage.protocols.Store.search_messages`; hits come opened.

        With encryption on, only the blind index is asked: plain words never reach it.
        """
        if self._index is not None:
            search = self._index.query(search)
        found = await self.inner.search_messages(search, limit=limit, offset=offset)
        return [await self._open_message(m) for m in found]

    async def read_messages(
        self,
        branch_id: str,
        *,
        min_seq: int = 1,
        max_seq: int | None = None,
        limit: int,
        newest_first: bool,
    ) -> list[Message]:
        """See :meth:`core.storage.protocols.Store.read_messages`."""
        found = await self.inner.read_messages(
            branch_id, min_seq=min_seq, max_seq=max_seq, limit=limit, newest_first=newest_first
        )
        if not found:
            return []
        # One branch belongs to one session: one key look-up for the whole page.
        sealer = await self._keys.sealer(found[0].session_id, create=False)
        return [
            self._open_with(sealer, m)
            if m.session_id == found[0].session_id
            else await self._open_message(m)
            for m in found
        ]

    async def get_message(self, message_id: str) -> Message | None:
        """See :meth:`core.storage.protocols.Store.get_message`."""
        message = await self.inner.get_message(message_id)
        return None if message is None else await self._open_message(message)

    # -- checkpoints ----------------------------------------------------------

    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """See :meth:`core.storage.protocols.Store.add_checkpoint`."""
        await self.inner.add_checkpoint(await self._seal_checkpoint(checkpoint))

    async def rewrite_checkpoint(self, checkpoint: Checkpoint) -> None:
        """See :meth:`core.storage.protocols.Store.rewrite_checkpoint`."""
        await self.inner.rewrite_checkpoint(await self._seal_checkpoint(checkpoint))

    async def get_checkpoint(self, checkpoint_id: str) -> Checkpoint | None:
        """See :meth:`core.storage.protocols.Store.get_checkpoint`."""
        return await self._open_checkpoint(await self.inner.get_checkpoint(checkpoint_id))

    async def list_checkpoints(self, session_id: str) -> list[Checkpoint]:
        """See :meth:`core.storage.protocols.Store.list_checkpoints`."""
        found = await self.inner.list_checkpoints(session_id)
        opened = [await self._open_checkpoint(c) for c in found]
        return [c for c in opened if c is not None]

    # -- keyring and channel settings pass through ------------------------------
