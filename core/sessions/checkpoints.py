"""Checkpoints: named points of a history to go back to, branch from, or clear past."""

from __future__ import annotations

from core.clock import Clock
from core.errors import NotFoundError
from core.ids import new_id
from core.models import ArchiveReason, Branch, Checkpoint, Inbound, Session
from core.sessions.channels import Channels
from core.sessions.config import SESSION_ID_LENGTH
from core.sessions.lifecycle import Lifecycle
from core.storage.caching import CachingStore


class Checkpoints:
    """Saves, lists, restores, deletes and branches checkpoints; clears histories.

    Saving and restoring are O(1), whatever the history's length: a checkpoint is a
    pointer ``(branch, seq)`` and a restore starts a new head branch at it.

    Args:
        store: the caching store.
        clock: source of the current time.
        lifecycle: starts the session a branch makes.
        channels: places messages under their scope key.
    """

    def __init__(
        self, store: CachingStore, clock: Clock, lifecycle: Lifecycle, channels: Channels
    ) -> None:
        self._store = store
        self._clock = clock
        self._lifecycle = lifecycle
        self._channels = channels

    async def save(
        self, session: Session, name: str, description: str = "", *, by: str
    ) -> Checkpoint:
        """Save a checkpoint at the end of the session's visible history; O(1)."""
        return await self._save(session, name, description, by=by, auto=False)

    async def _save(
        self, session: Session, name: str, description: str, *, by: str, auto: bool
    ) -> Checkpoint:
        checkpoint = self._checkpoint(session, name, description, by=by, auto=auto)
        await self._store.add_checkpoint(checkpoint)
        return checkpoint

    def _checkpoint(
        self, session: Session, name: str, description: str, *, by: str, auto: bool
    ) -> Checkpoint:
        return Checkpoint(
            id=new_id(SESSION_ID_LENGTH),
            session_id=session.id,
            branch_id=session.head_branch_id,
            seq=session.message_count,
            name=name,
            description=description,
            auto=auto,
            created_by=by,
            created_at=self._clock.now(),
        )

    async def list(self, session: Session) -> list[Checkpoint]:
        """Return the session's checkpoints, oldest first."""
        return await self._store.list_checkpoints(session.id)

    async def count(self, session: Session) -> int:
        """Return how many checkpoints the session has."""
        return await self._store.count_checkpoints(session.id)

    async def get(self, session: Session, checkpoint_id: str) -> Checkpoint:
        """Return a checkpoint of this session.

        Raises:
            NotFoundError: no such checkpoint in this session.
        """
        checkpoint = await self._store.get_checkpoint(checkpoint_id)
        if checkpoint is None or checkpoint.session_id != session.id:
            raise NotFoundError(f"No checkpoint {checkpoint_id!r} in this session.")
        return checkpoint

    async def restore(
        self, session: Session, checkpoint_id: str, *, by: str
    ) -> tuple[Session, Checkpoint, Checkpoint]:
        """Go back to a checkpoint; O(1) and undoable.

        The state left behind is saved first as an automatic checkpoint.

        Returns:
            The session with its new head, the checkpoint restored, and the
            automatic checkpoint that undoes the restore.

        Raises:
            NotFoundError: no such checkpoint in this session.
        """
        target = await self.get(session, checkpoint_id)
        why = f'saved before restoring "{target.name}"'
        undo = self._checkpoint(session, _auto_name("restore", session), why, by=by, auto=True)
        branch = self._new_head(session, parent=target.branch_id, seq=target.seq)
        return await self._switch(session, branch, undo), target, undo

    async def delete(self, session: Session, checkpoint_id: str) -> Checkpoint:
        """Delete a checkpoint of this session.

        Raises:
            NotFoundError: no such checkpoint in this session.
        """
        checkpoint = await self.get(session, checkpoint_id)
        await self._store.delete_checkpoint(checkpoint.id)
        return checkpoint

    async def branch(
        self,
        inbound: Inbound,
        session: Session,
        checkpoint_id: str,
        *,
        title: str | None = None,
    ) -> Session:
        """Start a new active session whose history begins with a checkpoint's.

        The current session is archived with reason ``branched``.

        Raises:
            NotFoundError: no such checkpoint in this session.
        """
        checkpoint = await self.get(session, checkpoint_id)
        key = (await self._channels.place(inbound)).key
        current = await self._store.get_active_session(key.value)
        return await self._lifecycle.start(
            inbound,
            key,
            title=title or session.title,
            archive=current,
            reason=ArchiveReason.BRANCHED,
            fork=checkpoint,
        )

    async def clear(self, session: Session, *, by: str) -> tuple[Session, Checkpoint | None]:
        """Start an empty head branch; settings and checkpoints stay.

        A non-empty history is saved first as an automatic checkpoint, so a clear
        can be undone with ``/checkpoint restore``.
        """
        saved = None
        if session.message_count:
            why = "saved before clearing the history"
            saved = self._checkpoint(session, _auto_name("clear", session), why, by=by, auto=True)
        branch = self._new_head(session, parent=None, seq=0)
        return await self._switch(session, branch, saved), saved

    def _new_head(self, session: Session, *, parent: str | None, seq: int) -> Branch:
        return Branch(
            id=new_id(SESSION_ID_LENGTH),
            session_id=session.id,
            parent_id=parent,
            fork_seq=seq,
            last_seq=seq,
            created_at=self._clock.now(),
        )

    async def _switch(self, session: Session, branch: Branch, undo: Checkpoint | None) -> Session:
        # The undo checkpoint, the new branch and the head move in one transaction.
        updated = await self._store.switch_head(session.id, branch, branch.created_at, undo=undo)
        if updated is None:
            raise NotFoundError(f"No session {session.id!r}.")
        return updated


def _auto_name(action: str, session: Session) -> str:
    """Name an automatic checkpoint from the state it keeps, never from another's name.

    ``before restore (12 messages)``: restoring it and restoring again does not
    nest names; which checkpoint was restored goes in the description.
    """
    count = session.message_count
    return f"before {action} ({count} message{'' if count == 1 else 's'})"
