"""A session's life: started, read, listed, archived, resumed, changed, deleted."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core.clock import Clock
from core.errors import NotFoundError
from core.ids import new_id
from core.models import (
    ArchiveReason,
    Branch,
    Checkpoint,
    Inbound,
    Session,
    SessionStatus,
)
from core.sessions.branches import BranchWalker
from core.sessions.channels import Channels
from core.sessions.config import SESSION_ID_LENGTH, SessionConfig
from core.sessions.edits import SessionEdit, edit_session
from core.sessions.history import new_message_ids
from core.sessions.scope import ScopeKey
from core.storage.caching import CachingStore
from core.storage.protocols import SessionFilter


class Lifecycle:
    """Starts, reads, archives, resumes, changes and deletes sessions.

    Args:
        store: the caching store.
        clock: source of the current time.
        config: the operator's session settings.
        walker: reads branch chains (a delete copies what dependents share).
        channels: places messages under their scope key.
    """

    def __init__(
        self,
        store: CachingStore,
        clock: Clock,
        config: SessionConfig,
        walker: BranchWalker,
        channels: Channels,
    ) -> None:
        self._store = store
        self._clock = clock
        self._config = config
        self._walker = walker
        self._channels = channels

    async def start(
        self,
        inbound: Inbound,
        key: ScopeKey,
        *,
        title: str | None = None,
        archive: Session | None = None,
        reason: ArchiveReason | None = None,
        fork: Checkpoint | None = None,
        carry: Session | None = None,
    ) -> Session:
        """Start the active session of ``key``; one store call, one transaction.

        Args:
            inbound: the message that starts it (owner, platform, channel).
            key: its scope key.
            title: its title.
            archive: the session it replaces, archived in the same transaction.
            reason: why ``archive`` ends.
            fork: a checkpoint its history starts from (a branch).
            carry: a session whose title, tags and metadata it keeps, as ``carry_over`` says.

        Returns:
            The new session, or the one a concurrent writer started first.
        """
        now = self._clock.now()
        tags: tuple[str, ...] = ()
        metadata: dict[str, Any] = {}
        if carry is not None:
            title = title or (carry.title if "title" in self._config.carry_over else None)
            tags = carry.tags if "tags" in self._config.carry_over else ()
            metadata = dict(carry.metadata) if "metadata" in self._config.carry_over else {}
        session_id = new_id(SESSION_ID_LENGTH)
        seq = fork.seq if fork else 0
        root = Branch(
            id=new_id(SESSION_ID_LENGTH),
            session_id=session_id,
            parent_id=fork.branch_id if fork else None,
            fork_seq=seq,
            last_seq=seq,
            created_at=now,
        )
        session = Session(
            id=session_id,
            scope_key=key.value,
            status=SessionStatus.ACTIVE,
            owner=inbound.user_ref,
            platform=inbound.platform,
            channel_id=inbound.channel_id,
            head_branch_id=root.id,
            created_at=now,
            updated_at=now,
            last_activity_at=now,
            message_count=seq,
            title=title,
            tags=tags,
            metadata=metadata,
            channel_key=self._channels.key(inbound),
            is_direct=inbound.is_direct,
        )
        return await self._store.start_session(
            session, root, archive_id=archive.id if archive else None, archive_reason=reason
        )

    async def start_new(
        self, inbound: Inbound, reason: ArchiveReason, *, title: str | None = None
    ) -> tuple[Session, Session | None]:
        """Archive the active session of the message's scope key and start another.

        Returns:
            The new session and the archived one (``None`` if there was none).
        """
        key = (await self._channels.place(inbound)).key
        current = await self._store.get_active_session(key.value)
        session = await self.start(inbound, key, title=title, archive=current, reason=reason)
        return session, current

    async def get(self, session_id: str) -> Session:
        """Return a session by id, whatever its scope (operator tools).

        Raises:
            NotFoundError: no such session.
        """
        session = await self._store.get_session(session_id)
        if session is None:
            raise NotFoundError(f"No session {session_id!r}.")
        return session

    async def get_in_scope(self, key: ScopeKey, session_id: str) -> Session:
        """Return a session of the caller's scope key.

        Raises:
            NotFoundError: no such session in this scope (it may exist elsewhere).
        """
        session = await self._store.get_session(session_id)
        if session is None or session.scope_key != key.value:
            raise NotFoundError(f"No session {session_id!r} in this conversation.")
        return session

    async def list(
        self, where: SessionFilter, *, limit: int = 10, offset: int = 0
    ) -> list[Session]:
        """Return sessions matching ``where``, newest first."""
        return await self._store.list_sessions(where, limit=limit, offset=offset)

    async def resume(self, key: ScopeKey, session_id: str) -> tuple[Session, Session | None]:
        """Make an archived session of the caller's scope key active again.

        Returns:
            The resumed session and the one it displaced, if any.

        Raises:
            NotFoundError: no such session in this scope.
        """
        target = await self.get_in_scope(key, session_id)
        if target.is_active:
            return target, None
        current = await self._store.get_active_session(key.value)
        resumed = await self._store.activate_session(
            target.id, self._clock.now(), displaced_reason=ArchiveReason.RESUMED
        )
        if resumed is None:
            raise NotFoundError(f"No session {session_id!r} in this conversation.")
        return resumed, current

    async def archive(self, session: Session, reason: ArchiveReason) -> bool:
        """Archive a session if it is still active."""
        return await self._store.archive_session(session.id, reason, self._clock.now())

    async def update(
        self,
        session: Session,
        *,
        title: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Session:
        """Change a session's title, tags or metadata (``None`` keeps a field)."""
        updated = await self._store.update_session(
            session.id, self._clock.now(), title=title, tags=tags, metadata=metadata
        )
        if updated is None:
            raise NotFoundError(f"No session {session.id!r}.")
        return updated

    async def edit(self, session: Session, edit: Callable[[Session], SessionEdit]) -> Session:
        """Change a session from what it holds now; see :func:`core.sessions.edits.edit_session`."""
        return await edit_session(self._store, self._clock, session.id, edit)

    async def delete(self, session_id: str) -> bool:
        """Delete a session and everything in it.

        Sessions branched from it keep their history: the messages they share are
        copied into them first.
        """
        if await self._store.get_session(session_id) is None:
            return False
        for dependent in await self._store.branches_forked_from(session_id):
            await self._detach(dependent)
        return await self._store.delete_session(session_id)

    async def _detach(self, branch: Branch) -> None:
        """Copy the inherited part of ``branch`` into its own session."""
        if branch.parent_id is None:
            return
        parent = await self._store.get_branch(branch.parent_id)
        if parent is None:
            return
        inherited = await self._walker.segments(parent, branch.fork_seq)
        copy = Branch(
            id=new_id(SESSION_ID_LENGTH),
            session_id=branch.session_id,
            parent_id=None,
            fork_seq=0,
            last_seq=branch.fork_seq,
            created_at=branch.created_at,
        )
        await self._store.add_branch(copy)
        async for chunk in self._walker.chunks(inherited):
            ids = new_message_ids(self._clock, len(chunk))
            await self._store.copy_messages(
                [
                    dataclasses.replace(
                        message, id=new_id_, branch_id=copy.id, session_id=branch.session_id
                    )
                    for message, new_id_ in zip(chunk, ids, strict=True)
                ]
            )
        await self._store.reparent_branch(branch.id, copy.id, branch.fork_seq)
