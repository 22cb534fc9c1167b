"""The storage protocol every backend implements.

A store keeps rows and enforces the invariants that need a transaction (one active
session per scope key, seq allocation, conditional archiving). Everything else, such
as walking a branch chain or access checks, lives in :mod:`core.sessions.manager`, so backends
stay small. One contract suite (``tests/core/test_store_contract.py``) runs against
every backend.

Backends are chosen by URL through :func:`core.storage.backends.open_store`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from core.models import (
    ArchiveReason,
    Branch,
    ChannelSettings,
    Checkpoint,
    Message,
    NewMessage,
    Session,
)
from core.storage.activity import Activity
from core.storage.filters import SessionFilter, ascii_lower
from core.storage.keyring import Keyring
from core.storage.plans import InForce, ResetSetting, RuleSelector, SweepPlan
from core.storage.records import Records
from core.storage.search import BlindTerms, TextSearch

__all__ = [
    "Backend",
    "InForce",
    "ResetSetting",
    "RuleSelector",
    "SessionFilter",
    "Store",
    "SweepPlan",
    "ascii_lower",
]


class Store(Records, Activity, Protocol):
    """Async persistence of sessions, branches, messages, checkpoints and settings.

    All times passed in and returned are aware UTC datetimes. Methods that take a
    session, branch or checkpoint id raise nothing when it does not exist; they return
    ``None``, ``False`` or an empty result instead.
    """

    async def open(self) -> None:
        """Connect and make sure the schema is current."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

    async def schema_current(self) -> bool:
        """Tell whether the database's schema is the newest this code knows (a query).

        Raises:
            StorageError: the database cannot be reached.
        """
        ...

    # -- sessions -------------------------------------------------------------

    async def start_session(
        self,
        session: Session,
        root: Branch,
        *,
        archive_id: str | None = None,
        archive_reason: ArchiveReason | None = None,
    ) -> Session:
        """Insert ``session`` with its first branch, archiving another one first.

        In one transaction: if ``archive_id`` is given and that session is still
        active, archive it with ``archive_reason`` at ``session.created_at``; then
        insert ``session`` and ``root``. If ``session`` is active and its scope key
        already has an active session (a concurrent writer won), nothing is inserted
        and that session is returned.
        """
        ...

    async def get_session(self, session_id: str) -> Session | None:
        """Return the session with this id."""
        ...

    async def get_active_session(self, scope_key: str) -> Session | None:
        """Return the active session of ``scope_key``."""
        ...

    async def list_sessions(
        self, where: SessionFilter, *, limit: int, offset: int = 0
    ) -> list[Session]:
        """Return matching sessions, newest ``created_at`` first (ties by id)."""
        ...

    async def count_sessions(self, where: SessionFilter) -> int:
        """Return how many sessions match ``where``."""
        ...

    async def archive_session(self, session_id: str, reason: ArchiveReason, at: datetime) -> bool:
        """Archive the session if it is still active; tell whether it was."""
        ...

    async def activate_session(
        self, session_id: str, at: datetime, *, displaced_reason: ArchiveReason
    ) -> Session | None:
        """Make an archived session the active one of its scope key.

        In one transaction the key's current active session (if another) is archived
        with ``displaced_reason``. Returns the updated session, or ``None`` if it does
        not exist.
        """
        ...

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
        """Change the given fields (``None`` leaves a field as it is).

        With ``expect_updated_at``, only if the session's ``updated_at`` is still that
        (compare-and-set: nothing else changed it since it was read). Returns the
        changed session, or ``None`` if it does not exist or was changed meanwhile.
        """
        ...

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session with its branches, messages and checkpoints."""
        ...

    async def archived_before(
        self, cutoff: datetime, *, keep_checkpointed: bool, limit: int
    ) -> list[str]:
        """Return ids of sessions archived before ``cutoff``, oldest first.

        With ``keep_checkpointed``, sessions with a user (not automatic) checkpoint
        are left out.
        """
        ...

    async def archive_due(self, plan: SweepPlan, now: datetime) -> list[Session]:
        """Archive, with ``plan.reason`` at ``now``, every active session ``plan`` holds for.

        Set-based and conditional (``WHERE status = 'active' AND last_activity_at <=
        :cutoff …``; a SQL store archives a few hundred sessions per transaction), so
        running it twice or in two processes at once archives each session exactly
        once, and a session that got a user message meanwhile is left alone.

        Returns:
            The sessions it archived, as they are after archiving, oldest first.
        """
        ...

    async def stored_schedules(self) -> set[tuple[str | None, str | None]]:
        """Return the distinct (daily reset time, timezone) pairs of channel settings."""
        ...

    # -- branches and messages ------------------------------------------------

    async def get_branch(self, branch_id: str) -> Branch | None:
        """Return the branch with this id."""
        ...

    async def branches_of(self, session_id: str) -> list[Branch]:
        """Return every branch of a session."""
        ...

    async def branches_forked_from(self, session_id: str) -> list[Branch]:
        """Return branches of *other* sessions whose parent belongs to this one."""
        ...

    async def add_branch(self, branch: Branch) -> None:
        """Insert a branch without changing any session's head.

        ``branch.session_id`` must name a stored session; the SQL backends enforce it
        with a foreign key and raise :class:`~core.errors.ConflictError` otherwise.
        """
        ...

    async def switch_head(
        self, session_id: str, branch: Branch, at: datetime, *, undo: Checkpoint | None = None
    ) -> Session | None:
        """Insert ``branch`` and make it the session's head in one transaction.

        The session's ``message_count`` becomes ``branch.last_seq``. With ``undo``,
        that checkpoint is stored in the same transaction, pointing at the head and
        message count the session has at that moment (its ``branch_id`` and ``seq``
        are replaced by them), so going back to it restores every message, also
        those another worker appended after the caller last read the session.
        Returns ``None`` (and stores nothing) if the session does not exist.
        """
        ...

    async def reparent_branch(self, branch_id: str, parent_id: str | None, fork_seq: int) -> None:
        """Point a branch at another parent (used to detach it before a delete)."""
        ...

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
        """Append messages to the session's head branch in one transaction.

        Seqs continue the head branch; the session's counters (message count,
        tokens, ``updated_at``, and ``last_activity_at`` for user messages) move
        with them. ``ids`` gives each message its id. Returns the stored messages,
        or an empty list if the session does not exist.

        With ``expect_head``, the append happens only if the session still exists, is
        active and ``expect_head`` is still its head branch. ``blind_terms`` (of these
        messages, from the sealing layer) are stored in the same transaction.

        Raises:
            StaleSessionError: ``expect_head`` was given and the session was deleted,
                archived or its head moved; nothing was written.
        """
        ...

    async def copy_messages(self, messages: Sequence[Message]) -> None:
        """Insert messages exactly as given (ids, branch, seq and times).

        Their branches must be stored. No counter moves (branch ``last_seq``, session
        ``message_count`` and tokens): the caller creates the branch with its final
        ``last_seq``, as imports and detaching do.
        """
        ...

    async def read_messages(
        self,
        branch_id: str,
        *,
        min_seq: int = 1,
        max_seq: int | None = None,
        limit: int,
        newest_first: bool,
    ) -> list[Message]:
        """Return messages of one branch with ``min_seq <= seq <= max_seq``."""
        ...

    async def get_message(self, message_id: str) -> Message | None:
        """Return the message with this id."""
        ...

    async def rewrite_messages(self, messages: Sequence[Message]) -> None:
        """Replace the content and metadata of stored messages (re-encoding only)."""
        ...

    # -- search ---------------------------------------------------------------

    async def search_messages(
        self, search: TextSearch, *, limit: int, offset: int = 0
    ) -> list[Message]:
        """Return messages of ``search.session_ids`` holding every word, newest first.

        Newest ``created_at`` first, ties by seq, then id (descending). Without
        ``blind_version`` the backend's full-text index answers (SQLite FTS5,
        PostgreSQL ``tsvector``); with it, the blind index. Either way the work grows
        with the named sessions' matches, not with the whole database.
        """
        ...

    async def add_blind_terms(self, entries: Sequence[BlindTerms]) -> None:
        """Store blind-index terms of messages; terms already stored are kept once.

        A session's terms go with it when it is deleted.
        """
        ...

    async def drop_blind_terms(self, keep_version: int) -> int:
        """Delete every blind-index term not made under ``keep_version``; return how many."""
        ...

    # -- checkpoints ----------------------------------------------------------

    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store a checkpoint."""
        ...

    async def get_checkpoint(self, checkpoint_id: str) -> Checkpoint | None:
        """Return the checkpoint with this id."""
        ...

    async def list_checkpoints(self, session_id: str) -> list[Checkpoint]:
        """Return a session's checkpoints, oldest first."""
        ...

    async def delete_checkpoint(self, checkpoint_id: str) -> bool:
        """Delete a checkpoint; tell whether it existed."""
        ...

    async def rewrite_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Replace the name and description of a stored checkpoint (re-encoding only)."""
        ...

    async def count_checkpoints(self, session_id: str) -> int:
        """Return how many checkpoints a session has."""
        ...

    # -- channel settings -----------------------------------------------------

    async def get_channel_settings(self, channel_key: str) -> ChannelSettings | None:
        """Return the overrides stored for a channel."""
        ...

    async def put_channel_settings(self, settings: ChannelSettings) -> None:
        """Insert or replace the overrides of a channel."""
        ...


class Backend(Store, Keyring, Protocol):
    """What a storage backend (memory, SQLite, PostgreSQL) provides: rows and keys.

    The sealing layer (:mod:`core.crypto.sealing`) wraps a backend and offers only
    :class:`Store` on top; nothing else sees the keyring.
    """
