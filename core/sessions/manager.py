"""The session manager: every operation on sessions, history and checkpoints.

Commands, adapters' proactive work, the CLI and the scheduler all go through a
:class:`SessionManager`. It walks branch chains, checks that ids belong to the
caller's scope, and leaves the transactions to the :class:`~core.storage.protocols.Store`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.clock import Clock, SystemClock
from core.errors import NotFoundError, StaleSessionError, StorageError
from core.ids import new_id, new_ordered_ids
from core.models import (
    ArchiveReason,
    Branch,
    ChannelSettings,
    Checkpoint,
    HistoryPage,
    Inbound,
    Message,
    NewMessage,
    Role,
    Session,
    SessionStatus,
)
from core.sessions.export import ImportedSession
from core.sessions.resets import (
    ResetPolicy,
    ResetRules,
    configured_schedules,
    due_reset,
)
from core.sessions.scope import DEFAULT_SCOPE, Scope, ScopeKey, channel_key_for, scope_key_for
from core.storage.caching import LiveSessions
from core.storage.protocols import SessionFilter, Store

SESSION_ID_LENGTH = 10
MESSAGE_ID_RANDOM_LENGTH = 10
"""Random characters of a message id, after the time (see :func:`core.ids.new_ordered_ids`)."""
_CHUNK = 500
_READ_CHUNK = 100
"""Messages read at a time for a whole history, between two turns of the event loop:
about 2 ms of reading, opening sealed values and rendering, while others wait."""
_AUTOMATIC = (ArchiveReason.DAILY, ArchiveReason.IDLE)


@dataclass(frozen=True, slots=True)
class Resolution:
    """The session an inbound message belongs to.

    Attributes:
        session: the active session of the message's scope key.
        key: the scope key.
        replaced: a session this resolve archived on the way (automatic reset).
    """

    session: Session
    key: ScopeKey
    replaced: Session | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an inbound message belongs, as read once for the whole message.

    Attributes:
        key: the message's scope key.
        channel_key: the key of its channel's settings.
        settings: the overrides stored for that channel, if any; the scope key was
            built from them, and :meth:`SessionManager.resolve` evaluates the reset
            policy with them instead of reading them again.
    """

    key: ScopeKey
    channel_key: str
    settings: ChannelSettings | None


@dataclass(frozen=True, slots=True)
class _Segment:
    """The part ``lo..hi`` (inclusive) of one branch inside a visible history."""

    branch_id: str
    lo: int
    hi: int


class SessionManager:
    """Resolves, changes and reads sessions.

    Args:
        store: where everything is kept.
        clock: source of the current time.
        default_scope: scope of channels without an override.
        identities: ``platform:user_id`` to linked identity name, for ``per-peer``.
        threads_are_channels: whether a thread counts as its own channel.
        reset_rules: daily and idle reset settings; ``None`` never resets.
        carry_over: session fields (``title``, ``tags``) an automatic reset keeps.
        encrypted: whether the store seals what users write (shown by ``/session``).
        live_conversations: how many conversations in progress are kept in memory
            between messages (:class:`core.storage.caching.LiveSessions`); 0 keeps none.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        default_scope: Scope = DEFAULT_SCOPE,
        identities: Mapping[str, str] | None = None,
        threads_are_channels: bool = True,
        reset_rules: ResetRules | None = None,
        carry_over: Sequence[str] = ("title", "tags"),
        encrypted: bool = False,
        live_conversations: int = 1000,
    ) -> None:
        self.store = store
        self.live = LiveSessions(live_conversations)
        self.encrypted = encrypted
        self.reset_rules = reset_rules
        self.carry_over = frozenset(carry_over)
        self.clock: Clock = clock or SystemClock()
        self.default_scope = default_scope
        self._identities = dict(identities or {})
        self._threads_are_channels = threads_are_channels

    # -- scopes ---------------------------------------------------------------

    def channel_key(self, inbound: Inbound) -> str:
        """Return the key under which the channel's settings are stored."""
        return channel_key_for(inbound, threads_are_channels=self._threads_are_channels)

    async def channel_settings(self, inbound: Inbound) -> ChannelSettings | None:
        """Return the overrides stored for the message's channel."""
        return await self.store.get_channel_settings(self.channel_key(inbound))

    async def scope_for(self, inbound: Inbound) -> Scope:
        """Return the scope in force for the message's channel."""
        return self._scope_in(await self.channel_settings(inbound))

    def _scope_in(self, settings: ChannelSettings | None) -> Scope:
        if settings is not None and settings.scope:
            return Scope(settings.scope)
        return self.default_scope

    async def place(self, inbound: Inbound, *, remembered: bool = False) -> Placement:
        """Return the message's scope key, reading its channel's settings once.

        Args:
            inbound: the message.
            remembered: use the channel's settings if read in the last few seconds
                (plain messages; see :mod:`core.storage.caching`).
        """
        channel_key = self.channel_key(inbound)
        known, settings = self.live.settings(channel_key) if remembered else (False, None)
        if not known:
            settings = await self.store.get_channel_settings(channel_key)
            self.live.keep_settings(channel_key, settings)
        key = scope_key_for(
            inbound,
            self._scope_in(settings),
            identities=self._identities,
            threads_are_channels=self._threads_are_channels,
        )
        return Placement(key, channel_key, settings)

    async def key_for(self, inbound: Inbound) -> ScopeKey:
        """Return the scope key of the message."""
        return (await self.place(inbound)).key

    async def set_channel_scope(self, inbound: Inbound, scope: Scope) -> ChannelSettings:
        """Store a scope override for the message's channel."""
        return await self.update_channel_settings(inbound, scope=scope.value)

    async def update_channel_settings(self, inbound: Inbound, **changes: Any) -> ChannelSettings:
        """Store overrides for the message's channel; unnamed fields keep their values.

        Args:
            inbound: a message of the channel.
            **changes: :class:`ChannelSettings` fields (``scope``,
                ``daily_reset_time``, ``idle_reset_minutes``, ``timezone``).
        """
        key = self.channel_key(inbound)
        current = await self.store.get_channel_settings(key)
        now = self.clock.now()
        settings = dataclasses.replace(
            current or ChannelSettings(channel_key=key, updated_at=now), updated_at=now, **changes
        )
        await self.store.put_channel_settings(settings)
        self.live.keep_settings(key, settings)
        return settings

    # -- sessions -------------------------------------------------------------

    async def resolve(
        self, inbound: Inbound, placement: Placement | None = None, *, remembered: bool = False
    ) -> Resolution:
        """Return the active session for the message, creating it if missing.

        The reset policy is applied first: a stale session is archived (``daily`` or
        ``idle``) and a fresh one started in the same step, so resets never depend on
        the scheduler having run. ``Resolution.replaced`` then names the old session,
        also when the scheduler archived it while nobody was writing.

        Args:
            inbound: the message.
            placement: what :meth:`place` returned for it, if the caller has it
                already (the router does, to lock the scope key); else it is read.
            remembered: start from the session this process remembers for the
                scope key, if any (plain messages: the append that follows checks
                that it is still active, see :mod:`core.storage.caching`); else read it.
        """
        placement = placement or await self.place(inbound, remembered=remembered)
        key = placement.key
        if remembered:
            known = self.live.session(key.value)
            # A reset the remembered session says is due is checked on the stored one.
            if known is not None and await self.due_reset(known, placement) is None:
                return Resolution(session=known, key=key)
        resolution = await self._resolve_stored(inbound, placement)
        self.live.keep(resolution.session)
        return resolution

    async def _resolve_stored(self, inbound: Inbound, placement: Placement) -> Resolution:
        key = placement.key
        session = await self.store.get_active_session(key.value)
        if session is None:
            return await self._start_after_gap(inbound, key)
        reason = await self.due_reset(session, placement)
        if reason is None:
            return Resolution(session=session, key=key)
        fresh = await self._start(inbound, key, archive=session, reason=reason, carry=session)
        replaced = await self.store.get_session(session.id)
        return Resolution(session=fresh, key=key, replaced=replaced)

    async def _start_after_gap(self, inbound: Inbound, key: ScopeKey) -> Resolution:
        latest = await self.store.list_sessions(SessionFilter(scope_key=key.value), limit=1)
        previous = latest[0] if latest else None
        automatic = previous is not None and previous.archive_reason in _AUTOMATIC
        session = await self._start(inbound, key, carry=previous if automatic else None)
        return Resolution(session=session, key=key, replaced=previous if automatic else None)

    async def due_reset(
        self, session: Session, placement: Placement | None = None
    ) -> ArchiveReason | None:
        """Return why ``session`` should be reset now, or ``None``.

        Args:
            session: the session.
            placement: a message's placement whose channel settings may be reused.
        """
        if self.reset_rules is None:
            return None
        policy = await self.reset_policy(session, placement)
        return due_reset(session, policy, self.clock.now())

    async def reset_policy(
        self, session: Session, placement: Placement | None = None
    ) -> ResetPolicy:
        """Return the reset policy in force for ``session``.

        Args:
            session: the session.
            placement: a message's placement; its channel settings are used when
                they are the session's channel's, instead of reading them again.
        """
        rules = self.reset_rules or ResetRules()
        if placement is not None and placement.channel_key == session.channel_key:
            settings = placement.settings
        else:
            settings = await self.store.get_channel_settings(session.channel_key)
        return rules.policy_for(session, settings)

    async def start_new(
        self, inbound: Inbound, reason: ArchiveReason, *, title: str | None = None
    ) -> tuple[Session, Session | None]:
        """Archive the active session of the message's scope key and start another.

        Returns:
            The new session and the archived one (``None`` if there was none).
        """
        key = await self.key_for(inbound)
        current = await self.store.get_active_session(key.value)
        session = await self._start(inbound, key, title=title, archive=current, reason=reason)
        return session, current

    async def _start(
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
        now = self.clock.now()
        tags: tuple[str, ...] = ()
        if carry is not None:
            title = title or (carry.title if "title" in self.carry_over else None)
            tags = carry.tags if "tags" in self.carry_over else ()
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
            channel_key=self.channel_key(inbound),
            is_direct=inbound.is_direct,
        )
        self.live.forget(key.value)
        return await self.store.start_session(
            session,
            root,
            archive_id=archive.id if archive else None,
            archive_reason=reason,
        )

    async def get(self, session_id: str) -> Session:
        """Return a session by id, whatever its scope (operator tools).

        Raises:
            NotFoundError: no such session.
        """
        session = await self.store.get_session(session_id)
        if session is None:
            raise NotFoundError(f"No session {session_id!r}.")
        return session

    async def get_in_scope(self, key: ScopeKey, session_id: str) -> Session:
        """Return a session of the caller's scope key.

        Raises:
            NotFoundError: no such session in this scope (it may exist elsewhere).
        """
        session = await self.store.get_session(session_id)
        if session is None or session.scope_key != key.value:
            raise NotFoundError(f"No session {session_id!r} in this conversation.")
        return session

    async def list_sessions(
        self, where: SessionFilter, *, limit: int = 10, offset: int = 0
    ) -> list[Session]:
        """Return sessions matching ``where``, newest first."""
        return await self.store.list_sessions(where, limit=limit, offset=offset)

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
        current = await self.store.get_active_session(key.value)
        self.live.forget(key.value)
        resumed = await self.store.activate_session(
            target.id, self.clock.now(), displaced_reason=ArchiveReason.RESUMED
        )
        if resumed is None:
            raise NotFoundError(f"No session {session_id!r} in this conversation.")
        return resumed, current

    async def archive(self, session: Session, reason: ArchiveReason) -> bool:
        """Archive a session if it is still active."""
        self.live.forget_session(session.id)
        return await self.store.archive_session(session.id, reason, self.clock.now())

    async def update(
        self,
        session: Session,
        *,
        title: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Session:
        """Change a session's title, tags or metadata (``None`` keeps a field)."""
        self.live.forget_session(session.id)
        updated = await self.store.update_session(
            session.id, self.clock.now(), title=title, tags=tags, metadata=metadata
        )
        if updated is None:
            raise NotFoundError(f"No session {session.id!r}.")
        return updated

    async def delete(self, session_id: str) -> bool:
        """Delete a session and everything in it.

        Sessions branched from it keep their history: the messages they share are
        copied into them first.
        """
        self.live.forget_session(session_id)
        if await self.store.get_session(session_id) is None:
            return False
        for dependent in await self.store.branches_forked_from(session_id):
            # Its messages get new ids in the copy: a remembered window has the old ones.
            self.live.forget_session(dependent.session_id)
            await self._detach(dependent)
        return await self.store.delete_session(session_id)

    async def _detach(self, branch: Branch) -> None:
        """Copy the inherited part of ``branch`` into its own session."""
        if branch.parent_id is None:
            return
        parent = await self.store.get_branch(branch.parent_id)
        if parent is None:
            return
        inherited = await self._segments(parent, branch.fork_seq)
        copy = Branch(
            id=new_id(SESSION_ID_LENGTH),
            session_id=branch.session_id,
            parent_id=None,
            fork_seq=0,
            last_seq=branch.fork_seq,
            created_at=branch.created_at,
        )
        await self.store.add_branch(copy)
        async for chunk in self._iter_segments(inherited):
            await self.store.copy_messages(
                [
                    dataclasses.replace(
                        message,
                        id=new_message_id(),
                        branch_id=copy.id,
                        session_id=branch.session_id,
                    )
                    for message in chunk
                ]
            )
        await self.store.reparent_branch(branch.id, copy.id, branch.fork_seq)

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
        now = self.clock.now()
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
        await self.store.start_session(session, root)
        messages = [
            Message(
                id=new_message_id(),
                session_id=session_id,
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
                role,
                author,
                content,
                metadata,
                tokens_in,
                tokens_out,
                created_at,
            ) in enumerate(imported.messages, start=1)
        ]
        for start in range(0, len(messages), _CHUNK):
            await self.store.copy_messages(messages[start : start + _CHUNK])
        for name, description, seq, created_at in imported.checkpoints:
            await self.store.add_checkpoint(
                Checkpoint(
                    id=new_id(SESSION_ID_LENGTH),
                    session_id=session_id,
                    branch_id=root.id,
                    seq=seq,
                    name=name,
                    description=description,
                    created_by=owner,
                    created_at=created_at,
                )
            )
        return session

    async def cleanup(self, older_than: timedelta, *, keep_checkpointed: bool) -> int:
        """Delete sessions archived more than ``older_than`` ago.

        Returns:
            How many sessions were deleted.
        """
        cutoff = self.clock.now() - older_than
        deleted = 0
        while True:
            ids = await self.store.archived_before(
                cutoff, keep_checkpointed=keep_checkpointed, limit=_CHUNK
            )
            if not ids:
                return deleted
            for session_id in ids:
                deleted += int(await self.delete(session_id))

    # -- scheduled resets -------------------------------------------------------

    async def daily_schedules(self) -> set[tuple[str, str]]:
        """Return every (``HH:MM``, timezone) daily reset that config or a channel uses."""
        rules = self.reset_rules or ResetRules()
        schedules = configured_schedules(rules)
        configured_times = {time for time, _ in schedules} | {rules.daily_reset_time}
        configured_zones = {zone for _, zone in schedules} | {rules.timezone}
        for daily, zone in await self.store.stored_schedules():
            times = {daily} if daily is not None else configured_times
            zones = {zone} if zone is not None else configured_zones
            schedules |= {(t, z) for t in times for z in zones if t != "off"}
        return schedules

    async def archive_idle_sessions(self) -> list[Session]:
        """Archive every session idle past its limit; see :meth:`ResetRules.idle_sweep`."""
        if self.reset_rules is None:
            return []
        plan = self.reset_rules.idle_sweep()
        return self._forgotten(await self.store.archive_due(plan, self.clock.now()))

    async def archive_daily_sessions(self, schedule: tuple[str, str]) -> list[Session]:
        """Archive the sessions whose daily reset on ``schedule`` is due."""
        if self.reset_rules is None:
            return []
        now = self.clock.now()
        plan = self.reset_rules.daily_sweep(schedule, now)
        if plan is None:
            return []
        return self._forgotten(await self.store.archive_due(plan, now))

    def _forgotten(self, archived: list[Session]) -> list[Session]:
        for session in archived:
            self.live.forget_session(session.id)
        return archived

    # -- messages -------------------------------------------------------------

    async def append(
        self, session: Session, *messages: NewMessage, only_if_current: bool = False
    ) -> list[Message]:
        """Append messages to the session's head branch; see :meth:`record`."""
        _, stored = await self.record(session, *messages, only_if_current=only_if_current)
        return stored

    async def record(
        self, session: Session, *messages: NewMessage, only_if_current: bool = False
    ) -> tuple[Session, list[Message]]:
        """Append messages to the session's head branch; one transaction.

        Args:
            session: the session, as the caller last saw it.
            *messages: what to append.
            only_if_current: append only if the session is still active on the head
                branch ``session`` names (a user's message: it must not land in a
                session that ended or moved on meanwhile).

        Returns:
            The session as it is after the append (read again only if its head
            moved meanwhile), and the stored messages.

        Raises:
            StorageError: the session no longer exists.
            StaleSessionError: ``only_if_current`` and the session was archived or
                its head moved; nothing was written.
        """
        ids = new_ordered_ids(len(messages), MESSAGE_ID_RANDOM_LENGTH)
        expect_head = session.head_branch_id if only_if_current else None
        try:
            stored = await self.store.append_messages(
                session.id, messages, ids, self.clock.now(), expect_head=expect_head
            )
        except StaleSessionError:
            self.live.forget_session(session.id)
            raise
        if not stored and messages:
            self.live.forget_session(session.id)
            raise StorageError(f"session {session.id} does not exist")
        after = _advanced(session, stored)
        if after is None:
            self.live.forget_session(session.id)
            return await self.get(session.id), stored
        self.live.appended(session, after, stored)
        return after, stored

    async def refreshed(self, session: Session, appended: Sequence[Message]) -> Session:
        """Return ``session`` as it is after :meth:`append` stored ``appended``.

        Computed from the stored messages, as the store moved the counters, without
        reading the session again; read only if the head changed meanwhile (a
        concurrent restore or clear). The message count and head are exact; token
        totals miss what another worker may have appended in between.
        """
        after = _advanced(session, appended)
        return after if after is not None else await self.get(session.id)

    async def newest_pages(
        self, session: Session, page: int | Callable[[], int]
    ) -> AsyncIterator[list[Message]]:
        """Yield the session's visible history newest first, ``page`` messages at a time.

        ``page`` may be a function, asked before each read how many messages to read.

        The head branch is read first, without looking it up: its seqs run without a
        gap from its fork point to ``message_count``, so a full page from it is all
        visible history. Only a short page sends the walk up the branch chain. Costs
        follow what is read, never the history's length.
        """
        size = page if callable(page) else lambda: page
        end = session.message_count
        while end > 0:
            limit = size()
            found = await self.store.read_messages(
                session.head_branch_id, max_seq=end, limit=limit, newest_first=True
            )
            if found:
                yield found
                end = found[-1].seq - 1
            if len(found) < limit:
                break
        if end <= 0:
            return
        # The rest lies before the head's fork point, in its ancestors.
        for segment in await self._head_segments(session, upto=end):
            if segment.branch_id == session.head_branch_id:
                continue
            low = segment.lo
            high = segment.hi
            while high >= low:
                found = await self.store.read_messages(
                    segment.branch_id, min_seq=low, max_seq=high, limit=size(), newest_first=True
                )
                if not found:
                    break
                yield found
                high = found[-1].seq - 1

    async def history(
        self,
        session: Session,
        *,
        limit: int = 20,
        before: str | None = None,
        after: str | None = None,
    ) -> HistoryPage:
        """Return a page of the session's visible history, oldest first.

        Args:
            session: the session.
            limit: at most this many messages.
            before: only messages older than this message id (the page ends just
                before it); ``has_more`` then says whether older ones exist.
            after: only messages newer than this message id (the page starts just
                after it); ``has_more`` then says whether newer ones exist.

        Raises:
            NotFoundError: a cursor is not a message of this history.
        """
        if before is None and after is None:
            # A conversation in progress: its newest messages are in memory.
            remembered = self.live.newest(session, limit)
            if remembered is not None:
                return HistoryPage(tuple(remembered), has_more=True)
        segments = await self._head_segments(session)
        if after is not None:
            start = (await self._visible(segments, after)).seq + 1
            found = await self._read(segments, start, session.message_count, limit + 1, False)
            return HistoryPage(tuple(found[:limit]), has_more=len(found) > limit)
        end = session.message_count
        if before is not None:
            end = (await self._visible(segments, before)).seq - 1
        found = await self._read(segments, 1, end, limit + 1, True)
        page = found[:limit]
        page.reverse()
        return HistoryPage(tuple(page), has_more=len(found) > limit)

    async def all_messages(self, session: Session) -> list[Message]:
        """Return the whole visible history, oldest first."""
        messages: list[Message] = []
        async for chunk in self.message_chunks(session):
            messages.extend(chunk)
        return messages

    async def message_chunks(self, session: Session) -> AsyncIterator[list[Message]]:
        """Yield the whole visible history, oldest first, a few hundred messages at a time.

        Other tasks get a turn of the event loop between chunks (exports).
        """
        async for chunk in self._iter_segments(await self._head_segments(session)):
            yield chunk

    async def clear(self, session: Session, *, by: str) -> tuple[Session, Checkpoint | None]:
        """Start an empty head branch; settings and checkpoints stay.

        A non-empty history is saved first as an automatic checkpoint, so a clear
        can be undone with ``/checkpoint restore``.
        """
        saved = None
        if session.message_count:
            saved = await self._save(session, "before clear", "", by=by, auto=True)
        now = self.clock.now()
        branch = Branch(new_id(SESSION_ID_LENGTH), session.id, None, 0, 0, now)
        self.live.forget_session(session.id)
        updated = await self.store.switch_head(session.id, branch, now)
        if updated is None:
            raise NotFoundError(f"No session {session.id!r}.")
        return updated, saved

    async def _head_segments(self, session: Session, upto: int | None = None) -> list[_Segment]:
        head = await self.store.get_branch(session.head_branch_id)
        if head is None:
            raise StorageError(f"session {session.id} has no head branch")
        return await self._segments(head, head.last_seq if upto is None else upto)

    async def _segments(self, branch: Branch, upto: int) -> list[_Segment]:
        """Return the branch chain ending at ``branch``'s seq ``upto``, newest first."""
        segments: list[_Segment] = []
        current: Branch | None = branch
        bound = upto
        while current is not None and bound > 0:
            if bound > current.fork_seq:
                segments.append(_Segment(current.id, current.fork_seq + 1, bound))
            bound = min(bound, current.fork_seq)
            if current.parent_id is None:
                break
            current = await self.store.get_branch(current.parent_id)
        return segments

    async def _read(
        self, segments: list[_Segment], lo: int, hi: int, limit: int, newest_first: bool
    ) -> list[Message]:
        ordered = segments if newest_first else list(reversed(segments))
        found: list[Message] = []
        for segment in ordered:
            if len(found) >= limit:
                break
            low, high = max(lo, segment.lo), min(hi, segment.hi)
            if low > high:
                continue
            found.extend(
                await self.store.read_messages(
                    segment.branch_id,
                    min_seq=low,
                    max_seq=high,
                    limit=limit - len(found),
                    newest_first=newest_first,
                )
            )
        return found

    async def _iter_segments(self, segments: list[_Segment]) -> AsyncIterator[list[Message]]:
        """Yield the messages of ``segments`` (newest first) oldest first, in chunks."""
        for segment in reversed(segments):
            low = segment.lo
            while low <= segment.hi:
                chunk = await self.store.read_messages(
                    segment.branch_id,
                    min_seq=low,
                    max_seq=segment.hi,
                    limit=_READ_CHUNK,
                    newest_first=False,
                )
                if not chunk:
                    break
                yield chunk
                low = chunk[-1].seq + 1
                # A SQLite read runs on the event loop's thread and never suspends:
                # without a turn here, an export of a long history would hold up
                # every other conversation until the last chunk.
                await asyncio.sleep(0)

    async def _visible(self, segments: list[_Segment], message_id: str) -> Message:
        message = await self.store.get_message(message_id)
        if message is not None:
            for segment in segments:
                inside = segment.lo <= message.seq <= segment.hi
                if message.branch_id == segment.branch_id and inside:
                    return message
        raise NotFoundError(f"No message {message_id!r} in this session.")

    # -- checkpoints ----------------------------------------------------------

    async def save_checkpoint(
        self, session: Session, name: str, description: str = "", *, by: str
    ) -> Checkpoint:
        """Save a checkpoint at the end of the session's visible history; O(1)."""
        return await self._save(session, name, description, by=by, auto=False)

    async def _save(
        self, session: Session, name: str, description: str, *, by: str, auto: bool
    ) -> Checkpoint:
        checkpoint = Checkpoint(
            id=new_id(SESSION_ID_LENGTH),
            session_id=session.id,
            branch_id=session.head_branch_id,
            seq=session.message_count,
            name=name,
            description=description,
            auto=auto,
            created_by=by,
            created_at=self.clock.now(),
        )
        await self.store.add_checkpoint(checkpoint)
        return checkpoint

    async def list_checkpoints(self, session: Session) -> list[Checkpoint]:
        """Return the session's checkpoints, oldest first."""
        return await self.store.list_checkpoints(session.id)

    async def get_checkpoint(self, session: Session, checkpoint_id: str) -> Checkpoint:
        """Return a checkpoint of this session.

        Raises:
            NotFoundError: no such checkpoint in this session.
        """
        checkpoint = await self.store.get_checkpoint(checkpoint_id)
        if checkpoint is None or checkpoint.session_id != session.id:
            raise NotFoundError(f"No checkpoint {checkpoint_id!r} in this session.")
        return checkpoint

    async def restore_checkpoint(
        self, session: Session, checkpoint_id: str, *, by: str
    ) -> tuple[Session, Checkpoint]:
        """Go back to a checkpoint; O(1) and undoable.

        The state left behind is saved first as an automatic checkpoint.

        Returns:
            The session with its new head, and the automatic checkpoint.
        """
        target = await self.get_checkpoint(session, checkpoint_id)
        undo = await self._save(session, f"before restoring {target.name}", "", by=by, auto=True)
        now = self.clock.now()
        branch = Branch(
            id=new_id(SESSION_ID_LENGTH),
            session_id=session.id,
            parent_id=target.branch_id,
            fork_seq=target.seq,
            last_seq=target.seq,
            created_at=now,
        )
        self.live.forget_session(session.id)
        updated = await self.store.switch_head(session.id, branch, now)
        if updated is None:
            raise NotFoundError(f"No session {session.id!r}.")
        return updated, undo

    async def delete_checkpoint(self, session: Session, checkpoint_id: str) -> Checkpoint:
        """Delete a checkpoint of this session."""
        checkpoint = await self.get_checkpoint(session, checkpoint_id)
        await self.store.delete_checkpoint(checkpoint.id)
        return checkpoint

    async def branch_checkpoint(
        self,
        inbound: Inbound,
        session: Session,
        checkpoint_id: str,
        *,
        title: str | None = None,
    ) -> Session:
        """Start a new active session whose history begins with a checkpoint's.

        The current session is archived with reason ``branched``.
        """
        checkpoint = await self.get_checkpoint(session, checkpoint_id)
        key = await self.key_for(inbound)
        current = await self.store.get_active_session(key.value)
        return await self._start(
            inbound,
            key,
            title=title or session.title,
            archive=current,
            reason=ArchiveReason.BRANCHED,
            fork=checkpoint,
        )

    async def count_checkpoints(self, session: Session) -> int:
        """Return how many checkpoints the session has."""
        return await self.store.count_checkpoints(session.id)

    def now(self) -> datetime:
        """Return the manager's current time."""
        return self.clock.now()


def new_message_id() -> str:
    """A new message id: time-ordered (see :func:`core.ids.new_ordered_ids`)."""
    return new_ordered_ids(1, MESSAGE_ID_RANDOM_LENGTH)[0]


def _advanced(session: Session, appended: Sequence[Message]) -> Session | None:
    """``session`` after ``appended`` were stored on its head; ``None`` if the head moved."""
    if not appended or appended[-1].branch_id != session.head_branch_id:
        return None
    last = appended[-1]
    user_at = [m.created_at for m in appended if m.role is Role.USER]
    s = session
    # Built directly: dataclasses.replace costs twice as much, on every message.
    # tests/core/test_manager.py checks that every other field is kept.
    return Session(
        id=s.id,
        scope_key=s.scope_key,
        status=s.status,
        owner=s.owner,
        platform=s.platform,
        channel_id=s.channel_id,
        head_branch_id=s.head_branch_id,
        created_at=s.created_at,
        updated_at=last.created_at,
        last_activity_at=user_at[-1] if user_at else s.last_activity_at,
        message_count=last.seq,
        title=s.title,
        tags=s.tags,
        metadata=s.metadata,
        tokens_in=s.tokens_in + sum(m.tokens_in for m in appended),
        tokens_out=s.tokens_out + sum(m.tokens_out for m in appended),
        archived_at=s.archived_at,
        archive_reason=s.archive_reason,
        channel_key=s.channel_key,
        resumed_at=s.resumed_at,
        is_direct=s.is_direct,
    )
