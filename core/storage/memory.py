"""An in-memory :class:`~core.storage.protocols.Store`, for tests and ``memory://``.

It keeps the same invariants as the SQL backends, so the contract suite holds for it.
Nothing survives the process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from core.errors import StaleSessionError
from core.models import (
    ArchiveReason,
    Branch,
    ChannelSettings,
    Checkpoint,
    Message,
    NewMessage,
    Role,
    Session,
    SessionStatus,
)
from core.storage.memory_activity import MemoryActivity
from core.storage.memory_api_keys import MemoryApiKeys
from core.storage.memory_checkpoints import MemoryCheckpoints
from core.storage.memory_deliveries import MemoryDeliveries
from core.storage.memory_keyring import MemoryKeyring
from core.storage.memory_search import MemorySearch
from core.storage.memory_workers import MemoryWorkers
from core.storage.message_times import message_times
from core.storage.protocols import SessionFilter, SweepPlan
from core.storage.search import BlindTerms


class MemoryStore(
    MemoryKeyring,
    MemoryCheckpoints,
    MemoryDeliveries,
    MemoryWorkers,
    MemoryApiKeys,
    MemorySearch,
    MemoryActivity,
):
    """Keeps everything in dictionaries."""

    def __init__(self) -> None:
        MemoryKeyring.__init__(self)
        MemorySearch.__init__(self)
        self._sessions: dict[str, Session] = {}
        self._active: dict[str, str] = {}
        self._by_key: dict[str, set[str]] = {}
        self._branches: dict[str, Branch] = {}
        self._messages: dict[str, list[Message]] = {}
        self._message_ids: dict[str, Message] = {}
        self._settings: dict[str, ChannelSettings] = {}

    async def open(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to release."""

    async def schema_current(self) -> bool:
        """Always: memory has no schema to migrate."""
        return True

    # -- sessions -------------------------------------------------------------

    async def start_session(
        self,
        session: Session,
        root: Branch,
        *,
        archive_id: str | None = None,
        archive_reason: ArchiveReason | None = None,
    ) -> Session:
        """See :meth:`core.storage.protocols.Store.start_session`."""
        if archive_id is not None:
            await self.archive_session(
                archive_id, archive_reason or ArchiveReason.NEW, session.created_at
            )
        if session.is_active:
            existing = self._active.get(session.scope_key)
            if existing is not None:
                return self._sessions[existing]
            self._active[session.scope_key] = session.id
        self._sessions[session.id] = session
        self._by_key.setdefault(session.scope_key, set()).add(session.id)
        self._branches[root.id] = root
        self._messages[root.id] = []
        return session

    async def get_session(self, session_id: str) -> Session | None:
        """See :meth:`core.storage.protocols.Store.get_session`."""
        return self._sessions.get(session_id)

    async def get_active_session(self, scope_key: str) -> Session | None:
        """See :meth:`core.storage.protocols.Store.get_active_session`."""
        session_id = self._active.get(scope_key)
        return self._sessions[session_id] if session_id else None

    async def list_sessions(
        self, where: SessionFilter, *, limit: int, offset: int = 0
    ) -> list[Session]:
        """See :meth:`core.storage.protocols.Store.list_sessions`."""
        candidates = (
            [self._sessions[i] for i in self._by_key.get(where.scope_key, ())]
            if where.scope_key is not None
            else self._sessions.values()
        )
        found = [s for s in candidates if _matches(s, where)]
        found.sort(key=where.order.key, reverse=True)
        return found[offset : offset + limit]

    async def count_sessions(self, where: SessionFilter) -> int:
        """See :meth:`core.storage.protocols.Store.count_sessions`."""
        return sum(1 for s in self._sessions.values() if _matches(s, where))

    async def archive_session(self, session_id: str, reason: ArchiveReason, at: datetime) -> bool:
        """See :meth:`core.storage.protocols.Store.archive_session`."""
        session = self._sessions.get(session_id)
        if session is None or not session.is_active:
            return False
        self._sessions[session_id] = dataclasses.replace(
            session,
            status=SessionStatus.ARCHIVED,
            archived_at=at,
            archive_reason=reason,
            updated_at=at,
        )
        del self._active[session.scope_key]
        return True

    async def activate_session(
        self, session_id: str, at: datetime, *, displaced_reason: ArchiveReason
    ) -> Session | None:
        """See :meth:`core.storage.protocols.Store.activate_session`."""
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if session.is_active:
            return session
        current = self._active.get(session.scope_key)
        if current is not None:
            await self.archive_session(current, displaced_reason, at)
        resumed = dataclasses.replace(
            session,
            status=SessionStatus.ACTIVE,
            archived_at=None,
            archive_reason=None,
            updated_at=at,
            last_activity_at=at,
            resumed_at=at,
        )
        self._sessions[session_id] = resumed
        self._active[session.scope_key] = session_id
        return resumed

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
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if expect_updated_at is not None and session.updated_at != expect_updated_at:
            return None
        changes: dict[str, Any] = {"updated_at": at}
        if title is not None:
            changes["title"] = title
        if tags is not None:
            changes["tags"] = tuple(tags)
        if metadata is not None:
            changes["metadata"] = dict(metadata)
        updated = dataclasses.replace(session, **changes)
        self._sessions[session_id] = updated
        return updated

    async def delete_session(self, session_id: str) -> bool:
        """See :meth:`core.storage.protocols.Store.delete_session`."""
        session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        if self._active.get(session.scope_key) == session_id:
            del self._active[session.scope_key]
        self._by_key[session.scope_key].discard(session_id)
        self.forget_blind_terms(session_id)
        for branch in [b for b in self._branches.values() if b.session_id == session_id]:
            del self._branches[branch.id]
            for message in self._messages.pop(branch.id, []):
                self._message_ids.pop(message.id, None)
        for checkpoint_id in [
            c.id for c in self._checkpoints.values() if c.session_id == session_id
        ]:
            del self._checkpoints[checkpoint_id]
        return True

    async def archived_before(
        self, cutoff: datetime, *, keep_checkpointed: bool, limit: int
    ) -> list[str]:
        """See :meth:`core.storage.protocols.Store.archived_before`."""
        kept = {c.session_id for c in self._checkpoints.values() if not c.auto}
        found = [
            s
            for s in self._sessions.values()
            if s.archived_at is not None
            and not s.is_active
            and s.archived_at < cutoff
            and not (keep_checkpointed and s.id in kept)
        ]
        found.sort(key=lambda s: (s.archived_at or cutoff, s.id))
        return [s.id for s in found[:limit]]

    async def archive_due(self, plan: SweepPlan, now: datetime) -> list[Session]:
        """See :meth:`core.storage.protocols.Store.archive_due`."""
        archived = []
        for session in [s for s in self._sessions.values() if s.is_active]:
            if plan.holds_for(session, self._settings.get(session.channel_key), now):
                await self.archive_session(session.id, plan.reason, now)
                archived.append(self._sessions[session.id])
        return sorted(archived, key=lambda s: (s.created_at, s.id))

    async def stored_schedules(self) -> set[tuple[str | None, str | None]]:
        """See :meth:`core.storage.protocols.Store.stored_schedules`."""
        return {(s.daily_reset_time, s.timezone) for s in self._settings.values()}

    # -- branches and messages ------------------------------------------------

    async def get_branch(self, branch_id: str) -> Branch | None:
        """See :meth:`core.storage.protocols.Store.get_branch`."""
        return self._branches.get(branch_id)

    async def branches_of(self, session_id: str) -> list[Branch]:
        """See :meth:`core.storage.protocols.Store.branches_of`."""
        return [b for b in self._branches.values() if b.session_id == session_id]

    async def branches_forked_from(self, session_id: str) -> list[Branch]:
        """See :meth:`core.storage.protocols.Store.branches_forked_from`."""
        own = {b.id for b in self._branches.values() if b.session_id == session_id}
        return [
            b for b in self._branches.values() if b.parent_id in own and b.session_id != session_id
        ]

    async def add_branch(self, branch: Branch) -> None:
        """See :meth:`core.storage.protocols.Store.add_branch`."""
        self._branches[branch.id] = branch
        self._messages.setdefault(branch.id, [])

    async def switch_head(
        self, session_id: str, branch: Branch, at: datetime, *, undo: Checkpoint | None = None
    ) -> Session | None:
        """See :meth:`core.storage.protocols.Store.switch_head`."""
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if undo is not None:
            await self.add_checkpoint(
                dataclasses.replace(
                    undo, branch_id=session.head_branch_id, seq=session.message_count
                )
            )
        self._branches[branch.id] = branch
        self._messages[branch.id] = []
        updated = dataclasses.replace(
            session, head_branch_id=branch.id, message_count=branch.last_seq, updated_at=at
        )
        self._sessions[session_id] = updated
        return updated

    async def reparent_branch(self, branch_id: str, parent_id: str | None, fork_seq: int) -> None:
        """See :meth:`core.storage.protocols.Store.reparent_branch`."""
        branch = self._branches.get(branch_id)
        if branch is not None:
            self._branches[branch_id] = dataclasses.replace(
                branch, parent_id=parent_id, fork_seq=fork_seq
            )

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
        """See :meth:`core.storage.protocols.Store.append_messages`."""
        session = self._sessions.get(session_id)
        if session is None and expect_head is None:
            return []
        if session is None or (
            expect_head is not None
            and (not session.is_active or session.head_branch_id != expect_head)
        ):
            raise StaleSessionError(f"session {session_id} was archived or moved on")
        branch = self._branches[session.head_branch_id]
        times = message_times(at, self._newest_times(branch), len(messages))
        stored = [
            Message(
                id=message_id,
                session_id=session_id,
                branch_id=branch.id,
                seq=branch.last_seq + offset,
                role=new.role,
                author=new.author,
                content=new.content,
                created_at=times[offset - 1],
                metadata=dict(new.metadata),
                tokens_in=new.tokens_in,
                tokens_out=new.tokens_out,
            )
            for offset, (new, message_id) in enumerate(zip(messages, ids, strict=True), start=1)
        ]
        self._messages[branch.id].extend(stored)
        self._message_ids.update((m.id, m) for m in stored)
        await self.add_blind_terms(blind_terms)
        last_seq = branch.last_seq + len(stored)
        self._branches[branch.id] = dataclasses.replace(branch, last_seq=last_seq)
        self._sessions[session_id] = dataclasses.replace(
            session,
            message_count=last_seq,
            tokens_in=session.tokens_in + sum(m.tokens_in for m in stored),
            tokens_out=session.tokens_out + sum(m.tokens_out for m in stored),
            updated_at=stored[-1].created_at if stored else at,
            last_activity_at=_last_user_time(stored) or session.last_activity_at,
        )
        return stored

    def _newest_times(self, branch: Branch) -> tuple[datetime | None, ...]:
        """Return the time of ``branch``'s newest message: its own, or at its fork point."""
        own = self._messages.get(branch.id)
        parent = self._branches.get(branch.parent_id or "")
        if own or parent is None or branch.fork_seq <= parent.fork_seq:
            return (own[-1].created_at if own else None,)
        inherited = self._messages.get(parent.id, [])
        index = branch.fork_seq - parent.fork_seq - 1
        return (inherited[index].created_at if index < len(inherited) else None,)

    async def copy_messages(self, messages: Sequence[Message]) -> None:
        """See :meth:`core.storage.protocols.Store.copy_messages`."""
        for message in messages:
            self._messages.setdefault(message.branch_id, []).append(message)
            self._message_ids[message.id] = message
        for branch_id in {m.branch_id for m in messages}:
            self._messages[branch_id].sort(key=lambda m: m.seq)

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
        found = [
            m
            for m in self._messages.get(branch_id, [])
            if m.seq >= min_seq and (max_seq is None or m.seq <= max_seq)
        ]
        if newest_first:
            found.reverse()
        return found[:limit]

    async def get_message(self, message_id: str) -> Message | None:
        """See :meth:`core.storage.protocols.Store.get_message`."""
        return self._message_ids.get(message_id)

    async def rewrite_messages(self, messages: Sequence[Message]) -> None:
        """See :meth:`core.storage.protocols.Store.rewrite_messages`."""
        for new in messages:
            old = self._message_ids.get(new.id)
            if old is None:
                continue
            updated = dataclasses.replace(old, content=new.content, metadata=dict(new.metadata))
            self._message_ids[new.id] = updated
            branch = self._messages[old.branch_id]
            branch[branch.index(old)] = updated

    # -- channel settings -----------------------------------------------------

    async def get_channel_settings(self, channel_key: str) -> ChannelSettings | None:
        """See :meth:`core.storage.protocols.Store.get_channel_settings`."""
        return self._settings.get(channel_key)

    async def put_channel_settings(self, settings: ChannelSettings) -> None:
        """See :meth:`core.storage.protocols.Store.put_channel_settings`."""
        self._settings[settings.channel_key] = settings


def _matches(session: Session, where: SessionFilter) -> bool:
    return (
        (where.scope_key is None or session.scope_key == where.scope_key)
        and (where.platform is None or session.platform == where.platform)
        and (where.channel_id is None or session.channel_id == where.channel_id)
        and (where.status is None or session.status.value == where.status)
        and (where.owners is None or session.owner in where.owners)
        and where.title_matches(session.title)
        and where.tags_match(session.tags)
        and where.follows(session)
    )


def _last_user_time(stored: Sequence[Message]) -> datetime | None:
    """The time of the newest user message of ``stored`` (idle resets count from it)."""
    return next((m.created_at for m in reversed(stored) if m.role is Role.USER), None)
