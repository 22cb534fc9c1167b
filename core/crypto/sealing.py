"""Encryption at rest as a layer around any :class:`~core.storage.protocols.Store`.

:class:`SealedStore` seals what users wrote (message content and metadata, session
titles, tags and metadata, checkpoint names and descriptions) on the way in and opens
it on the way out; ids, roles, times and counts stay clear for queries. Backends never
see plain text of those fields and know nothing of keys.

Without a key it still runs, as the plain codec: it stores text in the format that
can coexist with sealed values (see :mod:`core.crypto.envelope`) and refuses an encrypted
database instead of failing on the first read.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from core.crypto.envelope import (
    DecryptionError,
    KeyEncryptionKey,
    Sealer,
    open_plain,
    store_plain,
)
from core.errors import ConfigError
from core.jsontext import json_text, parse_json_text
from core.models import (
    ArchiveReason,
    Branch,
    ChannelSettings,
    Checkpoint,
    Message,
    NewMessage,
    Session,
)
from core.storage.protocols import KeyringEntry, SessionFilter, Store, SweepPlan

log = logging.getLogger(__name__)

CHECK_ENTRY = "check"
DATA_KEY_PREFIX = "session:"
UNREADABLE_MESSAGE = "[unreadable message]"
UNREADABLE = "[unreadable]"
_SEALED_METADATA = "sb:sealed"
_REPORTED_LIMIT = 10_000


def data_key_name(session_id: str) -> str:
    """Return the keyring name of a session's data key."""
    return DATA_KEY_PREFIX + session_id


class SealedStore:
    """Wraps a store; seals user text under per-session data keys.

    Args:
        inner: the backend that keeps the rows.
        kek: the key-encryption key, or ``None`` when encryption is off.
        cache_size: how many unwrapped data keys to keep in memory.
    """

    def __init__(
        self, inner: Store, kek: KeyEncryptionKey | None, *, cache_size: int = 1024
    ) -> None:
        self.inner = inner
        self._kek = kek
        self._cache: OrderedDict[str, Sealer] = OrderedDict()
        self._cache_size = cache_size
        self._reported: set[str] = set()

    @property
    def encrypted(self) -> bool:
        """Whether new data is sealed."""
        return self._kek is not None

    async def open(self) -> None:
        """Open the backend and check the master key against the database.

        Raises:
            ConfigError: wrong master key, or an encrypted database without a key.
        """
        await self.inner.open()
        await self.check_key()

    async def check_key(self) -> None:
        """Check the master key against the database's key check; store one if new.

        Raises:
            ConfigError: wrong master key, or an encrypted database without a key.
        """
        check = await self.inner.keyring_get(CHECK_ENTRY)
        if self._kek is None:
            if check is not None:
                raise ConfigError(
                    "this database is encrypted: set [encryption] enabled = true "
                    "and give its master key"
                )
            return
        if check is None:
            check = await self.inner.keyring_add(
                KeyringEntry(CHECK_ENTRY, self._kek.check_value, self._kek.version)
            )
        if not self._kek.matches(check.value):
            raise ConfigError("master key does not match this database")
        self._kek.version = check.version

    async def close(self) -> None:
        """Close the backend."""
        await self.inner.close()

    # -- keys -----------------------------------------------------------------

    async def _sealer(self, session_id: str, *, create: bool) -> Sealer | None:
        cached = self._cache.get(session_id)
        if cached is not None:
            self._cache.move_to_end(session_id)
            return cached
        sealer = await self._load_sealer(session_id, create=create)
        if sealer is None:
            # Not cached: another worker may give this session a key at any moment.
            return None
        return self._remember(session_id, sealer)

    def _remember(self, session_id: str, sealer: Sealer) -> Sealer:
        self._cache[session_id] = sealer
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return sealer

    async def _new_sealer(self, session_id: str) -> Sealer | None:
        """Make the data key of a session being created: no look-up for one first."""
        if self._kek is None:
            return None
        wrapped = self._kek.wrap(self._kek.new_data_key(), session_id)
        name = data_key_name(session_id)
        entry = await self.inner.keyring_add(KeyringEntry(name, wrapped, self._kek.version))
        try:
            # The stored entry: another worker may have made one first.
            return self._remember(session_id, Sealer(self._kek.unwrap(entry.value, session_id)))
        except DecryptionError:
            self._report(name, "its data key does not unwrap")
            return None

    async def _load_sealer(self, session_id: str, *, create: bool) -> Sealer | None:
        if self._kek is None:
            return None
        name = data_key_name(session_id)
        entry = await self.inner.keyring_get(name)
        if entry is None and create:
            wrapped = self._kek.wrap(self._kek.new_data_key(), session_id)
            entry = await self.inner.keyring_add(KeyringEntry(name, wrapped, self._kek.version))
        if entry is None:
            return None
        try:
            return Sealer(self._kek.unwrap(entry.value, session_id))
        except DecryptionError:
            self._report(name, "its data key does not unwrap")
            return None

    def _report(self, what: str, why: str) -> None:
        # Logged once per value: a corrupt row read on every turn must not flood logs.
        if what not in self._reported and len(self._reported) < _REPORTED_LIMIT:
            self._reported.add(what)
            log.error("%s is unreadable: %s", what, why)

    # -- sealing and opening values ---------------------------------------------

    @staticmethod
    def _seal(sealer: Sealer | None, text: str, context: str) -> str:
        return sealer.seal(text, context) if sealer is not None else store_plain(text)

    def _open(self, sealer: Sealer | None, value: str, context: str, fallback: str) -> str:
        try:
            return sealer.open(value, context) if sealer is not None else open_plain(value)
        except DecryptionError as error:
            self._report(context, str(error))
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
            self._new_sealer(session.id) if new else self._sealer(session.id, create=True)
        )
        prefix = f"session:{session.id}"
        return _replace_session(
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
        sealer = await self._sealer(session.id, create=False)
        prefix = f"session:{session.id}"
        return _replace_session(
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
        sealer = await self._sealer(message.session_id, create=True)
        context = f"message:{message.session_id}:{message.id}"
        return _replace_message(
            message,
            content=self._seal(sealer, message.content, context),
            metadata=self._seal_mapping(sealer, message.metadata, context + ":metadata"),
        )

    async def _open_message(self, message: Message) -> Message:
        return self._open_with(await self._sealer(message.session_id, create=False), message)

    def _open_with(self, sealer: Sealer | None, message: Message) -> Message:
        context = f"message:{message.session_id}:{message.id}"
        return _replace_message(
            message,
            content=self._open(sealer, message.content, context, UNREADABLE_MESSAGE),
            metadata=self._open_mapping(sealer, message.metadata, context + ":metadata"),
        )

    async def _seal_checkpoint(self, checkpoint: Checkpoint) -> Checkpoint:
        sealer = await self._sealer(checkpoint.session_id, create=True)
        context = f"checkpoint:{checkpoint.session_id}:{checkpoint.id}"
        return _replace_checkpoint(
            checkpoint,
            name=self._seal(sealer, checkpoint.name, context + ":name"),
            description=self._seal(sealer, checkpoint.description, context + ":description"),
        )

    async def _open_checkpoint(self, checkpoint: Checkpoint | None) -> Checkpoint | None:
        if checkpoint is None:
            return None
        sealer = await self._sealer(checkpoint.session_id, create=False)
        context = f"checkpoint:{checkpoint.session_id}:{checkpoint.id}"
        return _replace_checkpoint(
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
            await self.inner.keyring_delete(data_key_name(session.id))
            self._cache.pop(session.id, None)
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
        found = await self.inner.list_sessions(where, limit=limit, offset=offset)
        return await self._open_sessions(found)

    async def archive_session(self, session_id: str, reason: ArchiveReason, at: datetime) -> bool:
        """See :meth:`core.storage.protocols.Store.archive_session`."""
        return await self.inner.archive_session(session_id, reason, at)

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
    ) -> Session | None:
        """See :meth:`core.storage.protocols.Store.update_session`."""
        sealer = await self._sealer(session_id, create=True)
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
        )
        return await self._open_session(updated)

    async def delete_session(self, session_id: str) -> bool:
        """See :meth:`core.storage.protocols.Store.delete_session`.

        The data key goes first: should the rest fail, or survive in a backup, the
        messages are already unreadable (crypto-shredding).
        """
        await self.inner.keyring_delete(data_key_name(session_id))
        self._cache.pop(session_id, None)
        return await self.inner.delete_session(session_id)

    async def archived_before(
        self, cutoff: datetime, *, keep_checkpointed: bool, limit: int
    ) -> list[str]:
        """See :meth:`core.storage.protocols.Store.archived_before`."""
        return await self.inner.archived_before(
            cutoff, keep_checkpointed=keep_checkpointed, limit=limit
        )

    async def archive_due(self, plan: SweepPlan, now: datetime) -> list[Session]:
        """See :meth:`core.storage.protocols.Store.archive_due`."""
        return await self._open_sessions(await self.inner.archive_due(plan, now))

    async def stored_schedules(self) -> set[tuple[str | None, str | None]]:
        """See :meth:`core.storage.protocols.Store.stored_schedules`."""
        return await self.inner.stored_schedules()

    # -- branches and messages ------------------------------------------------

    async def get_branch(self, branch_id: str) -> Branch | None:
        """See :meth:`core.storage.protocols.Store.get_branch`."""
        return await self.inner.get_branch(branch_id)

    async def branches_of(self, session_id: str) -> list[Branch]:
        """See :meth:`core.storage.protocols.Store.branches_of`."""
        return await self.inner.branches_of(session_id)

    async def branches_forked_from(self, session_id: str) -> list[Branch]:
        """See :meth:`core.storage.protocols.Store.branches_forked_from`."""
        return await self.inner.branches_forked_from(session_id)

    async def add_branch(self, branch: Branch) -> None:
        """See :meth:`core.storage.protocols.Store.add_branch`."""
        await self.inner.add_branch(branch)

    async def switch_head(self, session_id: str, branch: Branch, at: datetime) -> Session | None:
        """See :meth:`core.storage.protocols.Store.switch_head`."""
        return await self._open_session(await self.inner.switch_head(session_id, branch, at))

    async def reparent_branch(self, branch_id: str, parent_id: str | None, fork_seq: int) -> None:
        """See :meth:`core.storage.protocols.Store.reparent_branch`."""
        await self.inner.reparent_branch(branch_id, parent_id, fork_seq)

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[NewMessage],
        ids: Sequence[str],
        at: datetime,
        *,
        expect_head: str | None = None,
    ) -> list[Message]:
        """See :meth:`core.storage.protocols.Store.append_messages`."""
        sealer = await self._sealer(session_id, create=True)
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
            session_id, sealed, ids, at, expect_head=expect_head
        )
        return [
            _replace_message(m, content=new.content, metadata=dict(new.metadata))
            for m, new in zip(stored, messages, strict=True)
        ]

    async def copy_messages(self, messages: Sequence[Message]) -> None:
        """See :meth:`core.storage.protocols.Store.copy_messages`."""
        await self.inner.copy_messages([await self._seal_message(m) for m in messages])

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
        sealer = await self._sealer(found[0].session_id, create=False)
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

    async def rewrite_messages(self, messages: Sequence[Message]) -> None:
        """See :meth:`core.storage.protocols.Store.rewrite_messages`."""
        await self.inner.rewrite_messages([await self._seal_message(m) for m in messages])

    # -- checkpoints ----------------------------------------------------------

    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """See :meth:`core.storage.protocols.Store.add_checkpoint`."""
        await self.inner.add_checkpoint(await self._seal_checkpoint(checkpoint))

    async def get_checkpoint(self, checkpoint_id: str) -> Checkpoint | None:
        """See :meth:`core.storage.protocols.Store.get_checkpoint`."""
        return await self._open_checkpoint(await self.inner.get_checkpoint(checkpoint_id))

    async def list_checkpoints(self, session_id: str) -> list[Checkpoint]:
        """See :meth:`core.storage.protocols.Store.list_checkpoints`."""
        found = await self.inner.list_checkpoints(session_id)
        opened = [await self._open_checkpoint(c) for c in found]
        return [c for c in opened if c is not None]

    async def delete_checkpoint(self, checkpoint_id: str) -> bool:
        """See :meth:`core.storage.protocols.Store.delete_checkpoint`."""
        return await self.inner.delete_checkpoint(checkpoint_id)

    async def rewrite_checkpoint(self, checkpoint: Checkpoint) -> None:
        """See :meth:`core.storage.protocols.Store.rewrite_checkpoint`."""
        await self.inner.rewrite_checkpoint(await self._seal_checkpoint(checkpoint))

    async def count_checkpoints(self, session_id: str) -> int:
        """See :meth:`core.storage.protocols.Store.count_checkpoints`."""
        return await self.inner.count_checkpoints(session_id)

    # -- keyring and channel settings pass through ------------------------------

    async def keyring_get(self, name: str) -> KeyringEntry | None:
        """See :meth:`core.storage.protocols.Store.keyring_get`."""
        return await self.inner.keyring_get(name)

    async def keyring_add(self, entry: KeyringEntry) -> KeyringEntry:
        """See :meth:`core.storage.protocols.Store.keyring_add`."""
        return await self.inner.keyring_add(entry)

    async def keyring_delete(self, name: str) -> None:
        """See :meth:`core.storage.protocols.Store.keyring_delete`."""
        await self.inner.keyring_delete(name)

    async def keyring_page(self, prefix: str, after: str, limit: int) -> list[KeyringEntry]:
        """See :meth:`core.storage.protocols.Store.keyring_page`."""
        return await self.inner.keyring_page(prefix, after, limit)

    async def keyring_stage(self, name: str, next_value: bytes, next_version: int) -> None:
        """See :meth:`core.storage.protocols.Store.keyring_stage`."""
        await self.inner.keyring_stage(name, next_value, next_version)

    async def keyring_commit(self, check: KeyringEntry) -> int:
        """See :meth:`core.storage.protocols.Store.keyring_commit`."""
        return await self.inner.keyring_commit(check)

    async def keyring_unstaged(self, prefix: str, version: int) -> int:
        """See :meth:`core.storage.protocols.Store.keyring_unstaged`."""
        return await self.inner.keyring_unstaged(prefix, version)

    async def get_channel_settings(self, channel_key: str) -> ChannelSettings | None:
        """See :meth:`core.storage.protocols.Store.get_channel_settings`."""
        return await self.inner.get_channel_settings(channel_key)

    async def put_channel_settings(self, settings: ChannelSettings) -> None:
        """See :meth:`core.storage.protocols.Store.put_channel_settings`."""
        await self.inner.put_channel_settings(settings)


def _replace_session(
    session: Session, *, title: str | None, tags: tuple[str, ...], metadata: dict[str, Any]
) -> Session:
    return dataclasses.replace(session, title=title, tags=tags, metadata=metadata)


def _replace_message(message: Message, *, content: str, metadata: dict[str, Any]) -> Message:
    # Built directly: dataclasses.replace costs several times more, on every message
    # read or written.
    return Message(
        id=message.id,
        session_id=message.session_id,
        branch_id=message.branch_id,
        seq=message.seq,
        role=message.role,
        author=message.author,
        content=content,
        created_at=message.created_at,
        metadata=metadata,
        tokens_in=message.tokens_in,
        tokens_out=message.tokens_out,
    )


def _replace_checkpoint(checkpoint: Checkpoint, *, name: str, description: str) -> Checkpoint:
    return dataclasses.replace(checkpoint, name=name, description=description)
