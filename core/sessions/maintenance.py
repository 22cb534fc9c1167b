"""Maintenance: imports, retention cleanup, and the scheduler's reset sweeps."""

from __future__ import annotations

from datetime import timedelta

from core.clock import Clock
from core.ids import new_id
from core.models import ArchiveReason, Branch, Checkpoint, Message, Role, Session, SessionStatus
from core.sessions.config import SESSION_ID_LENGTH, SessionConfig
from core.sessions.history import new_message_ids
from core.sessions.imports import ImportedSession
from core.sessions.lifecycle import Lifecycle
from core.sessions.resets import ResetRules, configured_schedules
from core.storage.caching import CachingStore

_CHUNK = 500
"""Messages copied, or sessions deleted, per store call."""


class Maintenance:
    """Imports exports, deletes what retention ends, and archives stale sessions.

    Args:
        store: the caching store.
        clock: source of the current time.
        config: the operator's session settings (reset rules).
        lifecycle: deletes sessions.
    """

    def __init__(
        self, store: CachingStore, clock: Clock, config: SessionConfig, lifecycle: Lifecycle
    ) -> None:
        self._store = store
        self._clock = clock
        self._config = config
        self._lifecycle = lifecycle

    async def import_export(
        self,
        imported: ImportedSession,
        *,
        scope_key: str,
        owner: str,
        platform: str,
        channel_id: str,
    ) -> Session:
        """Store a parsed JSON export as a new archived session of ``scope_key``.

        The session gets new ids; ``/session resume`` makes it active.
        """
        session, root = self._imported_session(
            imported, scope_key=scope_key, owner=owner, platform=platform, channel_id=channel_id
        )
        await self._store.start_session(session, root)
        ids = new_message_ids(self._clock, len(imported.messages))
        messages = [
            Message(
                id=message_id,
                session_id=session.id,
                branch_id=root.id,
                seq=seq,
                role=role,
                author=author,
                content=content,
                created_at=created_at,
                metadata=metadata,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
            )
            for seq, (
                message_id,
                (role, author, content, metadata, tokens_in, tokens_out, created_at),
            ) in enumerate(zip(ids, imported.messages, strict=True), start=1)
        ]
        for start in range(0, len(messages), _CHUNK):
            await self._store.copy_messages(messages[start : start + _CHUNK])
        for name, description, seq, created_at in imported.checkpoints:
            await self._store.add_checkpoint(
                Checkpoint(
                    id=new_id(SESSION_ID_LENGTH),
                    session_id=session.id,
                    branch_id=root.id,
                    seq=seq,
                    name=name,
                    description=description,
                    created_by=owner,
                    created_at=created_at,
                )
            )
        return session

    def _imported_session(
        self,
        imported: ImportedSession,
        *,
        scope_key: str,
        owner: str,
        platform: str,
        channel_id: str,
    ) -> tuple[Session, Branch]:
        now = self._clock.now()
        session_id = new_id(SESSION_ID_LENGTH)
        count = len(imported.messages)
        root = Branch(new_id(SESSION_ID_LENGTH), session_id, None, 0, count, imported.created_at)
        last_user = [when for role, *_, when in imported.messages if role is Role.USER]
        session = Session(
            id=session_id,
            scope_key=scope_key,
            status=SessionStatus.ARCHIVED,
            owner=owner,
            platform=platform,
            channel_id=channel_id,
            head_branch_id=root.id,
            created_at=imported.created_at,
            updated_at=now,
            last_activity_at=last_user[-1] if last_user else imported.created_at,
            message_count=count,
            title=imported.title,
            tags=imported.tags,
            metadata=imported.metadata,
            tokens_in=sum(item[4] for item in imported.messages),
            tokens_out=sum(item[5] for item in imported.messages),
            archived_at=now,
            archive_reason=ArchiveReason.IMPORTED,
        )
        return session, root

    async def cleanup(self, older_than: timedelta, *, keep_checkpointed: bool) -> int:
        """Delete sessions archived more than ``older_than`` ago.

        Returns:
            How many sessions were deleted.
        """
        cutoff = self._clock.now() - older_than
        deleted = 0
        while True:
            ids = await self._store.archived_before(
                cutoff, keep_checkpointed=keep_checkpointed, limit=_CHUNK
            )
            if not ids:
                return deleted
            for session_id in ids:
                deleted += int(await self._lifecycle.delete(session_id))

    async def daily_schedules(self) -> set[tuple[str, str]]:
        """Return every (``HH:MM``, timezone) daily reset that config or a channel uses."""
        rules = self._config.reset_rules or ResetRules()
        schedules = configured_schedules(rules)
        configured_times = {time for time, _ in schedules} | {rules.daily_reset_time}
        configured_zones = {zone for _, zone in schedules} | {rules.timezone}
        for daily, zone in await self._store.stored_schedules():
            times = {daily} if daily is not None else configured_times
            zones = {zone} if zone is not None else configured_zones
            schedules |= {(t, z) for t in times for z in zones if t != "off"}
        return schedules

    async def archive_idle_sessions(self) -> list[Session]:
        """Archive every session idle past its limit; see :meth:`ResetRules.idle_sweep`."""
        rules = self._config.reset_rules
        if rules is None:
            return []
        return await self._store.archive_due(rules.idle_sweep(), self._clock.now())

    async def archive_daily_sessions(self, schedule: tuple[str, str]) -> list[Session]:
        """Archive the sessions whose daily reset on ``schedule`` is due."""
        rules = self._config.reset_rules
        now = self._clock.now()
        plan = rules.daily_sweep(schedule, now) if rules is not None else None
        if plan is None:
            return []
        return await self._store.archive_due(plan, now)
