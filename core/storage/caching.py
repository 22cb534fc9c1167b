"""The store with a memory of the conversations in progress, kept right by its own writes.

:class:`CachingStore` wraps the store the session manager uses. Whatever passes
through it that changes a session (starting, archiving, resuming, updating, deleting,
switching its head, appending, a sweep) updates or drops what
:class:`~core.storage.live.LiveSessions` remembers of it, so no caller has to
remember to. What it remembers is offered only through the ``remembered_*`` methods,
to the callers that can check it (see :mod:`core.storage.live` for what is checked
and what may lag behind another worker); the :class:`Store` methods themselves always
read the store, and refresh the memory with what they read.

With a :class:`~core.storage.changes.ChangeFeed` (several workers on PostgreSQL),
each change is also announced once its write has returned, and the changes other
workers announce are forgotten here: a title, a channel's settings, a deleted or
restored session are seen by every worker's next message. Appends and sweeps are not
announced: what they change is checked before it is trusted (a stale session fails
its append; a window is checked against the session's last message).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from core.models import (
    ArchiveReason,
    Branch,
    ChannelSettings,
    Checkpoint,
    Message,
    NewMessage,
    Session,
)
from core.storage.changes import Change, ChangeFeed, Scope
from core.storage.forwarding import ForwardingStore
from core.storage.live import SETTINGS_TTL_SECONDS, LiveSessions
from core.storage.protocols import Store, SweepPlan
from core.storage.search import BlindTerms
from core.tokens import ESTIMATE, Context, TokenCounter


class CachingStore(ForwardingStore):
    """A store that remembers the conversations in progress between their messages.

    Args:
        inner: the store (usually the sealing layer around a backend).
        capacity: how many conversations are remembered; 0 remembers none.
        settings_ttl: seconds a channel's settings are used before being read again.
        rng: where the memory's random eviction picks come from (tests seed one).
        feed: carries changes to and from the other processes on the database.
        counter: how the remembered windows count tokens.
    """

    def __init__(
        self,
        inner: Store,
        capacity: int,
        *,
        settings_ttl: float = SETTINGS_TTL_SECONDS,
        rng: random.Random | None = None,
        feed: ChangeFeed | None = None,
        counter: TokenCounter = ESTIMATE,
    ) -> None:
        super().__init__(inner)
        self.memory = LiveSessions(capacity, settings_ttl=settings_ttl, rng=rng, counter=counter)
        self._feed = feed
        if feed is not None:
            feed.listen(self._heard)

    # -- what is remembered (callers check it before trusting it) ----------------

    def remembered_session(self, scope_key: str) -> Session | None:
        """Return the active session of ``scope_key`` as last seen, if remembered."""
        return self.memory.session(scope_key)

    def remembered_settings(self, channel_key: str) -> tuple[bool, ChannelSettings | None]:
        """Return ``(known, settings)`` of a channel; ``known`` is false if they must be read."""
        return self.memory.settings(channel_key)

    def remembered_window(self, session: Session, max_tokens: int) -> Context | None:
        """Return the context window of ``session`` for ``max_tokens``, if remembered."""
        return self.memory.window(session, max_tokens)

    def remember_window(
        self, session: Session, context: Sequence[Message], max_tokens: int
    ) -> None:
        """Remember ``context`` (oldest first), just read for ``session``, as its window."""
        self.memory.keep_window(session, context, max_tokens)

    def remembered_newest(self, session: Session, limit: int) -> list[Message] | None:
        """Return the newest ``limit`` messages of ``session``, if the window holds more."""
        return self.memory.newest(session, limit)

    # -- reads that refresh the memory -------------------------------------------

    async def get_active_session(self, scope_key: str) -> Session | None:
        """See :meth:`Store.get_active_session`; the session read is remembered."""
        session = await self.inner.get_active_session(scope_key)
        if session is None:
            self.memory.forget(scope_key)
        else:
            self.memory.keep(session)
        return session

    async def get_channel_settings(self, channel_key: str) -> ChannelSettings | None:
        """See :meth:`Store.get_channel_settings`; what is read is remembered."""
        settings = await self.inner.get_channel_settings(channel_key)
        self.memory.keep_settings(channel_key, settings)
        return settings

    # -- writes that change what is remembered -----------------------------------

    async def put_channel_settings(self, settings: ChannelSettings) -> None:
        """See :meth:`Store.put_channel_settings`."""
        self.memory.forget_settings(settings.channel_key)
        try:
            await self.inner.put_channel_settings(settings)
        finally:
            self._announce(Change(Scope.CHANNEL, settings.channel_key))
        self.memory.keep_settings(settings.channel_key, settings)

    async def start_session(
        self,
        session: Session,
        root: Branch,
        *,
        archive_id: str | None = None,
        archive_reason: ArchiveReason | None = None,
    ) -> Session:
        """See :meth:`Store.start_session`; the started session is remembered."""
        self.memory.forget(session.scope_key)
        try:
            started = await self.inner.start_session(
                session, root, archive_id=archive_id, archive_reason=archive_reason
            )
        finally:
            self._forget(archive_id)
            self._announce(Change(Scope.SCOPE, session.scope_key))
        self.memory.keep(started)
        return started

    async def archive_session(self, session_id: str, reason: ArchiveReason, at: datetime) -> bool:
        """See :meth:`Store.archive_session`."""
        try:
            return await self.inner.archive_session(session_id, reason, at)
        finally:
            self._forget(session_id)

    async def activate_session(
        self, session_id: str, at: datetime, *, displaced_reason: ArchiveReason
    ) -> Session | None:
        """See :meth:`Store.activate_session`; the resumed session is remembered."""
        self._forget(session_id, announce=False)
        try:
            activated = await self.inner.activate_session(
                session_id, at, displaced_reason=displaced_reason
            )
        finally:
            self._announce(Change(Scope.SESSION, session_id))
        if activated is not None:
            self._announce(Change(Scope.SCOPE, activated.scope_key))
            self.memory.forget(activated.scope_key)  # the session it displaced
            self.memory.keep(activated)
        return activated

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
        """See :meth:`Store.update_session`."""
        try:
            return await self.inner.update_session(
                session_id,
                at,
                title=title,
                tags=tags,
                metadata=metadata,
                expect_updated_at=expect_updated_at,
            )
        finally:
            self._forget(session_id)

    async def delete_session(self, session_id: str) -> bool:
        """See :meth:`Store.delete_session`."""
        try:
            return await self.inner.delete_session(session_id)
        finally:
            self._forget(session_id)

    async def add_branch(self, branch: Branch) -> None:
        """See :meth:`Store.add_branch`.

        A branch added to a session that is not its head is a detached copy of
        history it shared (its messages get new ids): what is remembered is dropped.
        """
        try:
            await self.inner.add_branch(branch)
        finally:
            self._forget(branch.session_id)

    async def switch_head(
        self, session_id: str, branch: Branch, at: datetime, *, undo: Checkpoint | None = None
    ) -> Session | None:
        """See :meth:`Store.switch_head`."""
        try:
            return await self.inner.switch_head(session_id, branch, at, undo=undo)
        finally:
            self._forget(session_id)

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
        """See :meth:`Store.append_messages`; a remembered session moves forward with it."""
        try:
            stored = await self.inner.append_messages(
                session_id, messages, ids, at, expect_head=expect_head, blind_terms=blind_terms
            )
        except BaseException:
            self._forget(session_id, announce=False)  # stale, gone, or not known to be either
            raise
        if stored:
            self.memory.appended(session_id, stored)
        else:
            self._forget(session_id, announce=False)
        return stored

    async def copy_messages(self, messages: Sequence[Message]) -> None:
        """See :meth:`Store.copy_messages`."""
        try:
            await self.inner.copy_messages(messages)
        finally:
            for session_id in {message.session_id for message in messages}:
                self._forget(session_id)

    async def archive_due(self, plan: SweepPlan, now: datetime) -> list[Session]:
        """See :meth:`Store.archive_due`; what it archived is forgotten."""
        return self._forgotten(await self.inner.archive_due(plan, now))

    def _forget(self, session_id: str | None, *, announce: bool = True) -> None:
        if session_id is not None:
            self.memory.forget_session(session_id)
            if announce:
                self._announce(Change(Scope.SESSION, session_id))

    def _announce(self, change: Change) -> None:
        if self._feed is not None:
            self._feed.announce(change)

    def _heard(self, change: Change) -> None:
        """Forget what another process changed."""
        if change.scope is Scope.SESSION:
            self.memory.forget_session(change.key)
        elif change.scope is Scope.SCOPE:
            self.memory.forget(change.key)
        elif change.scope is Scope.CHANNEL:
            self.memory.forget_settings(change.key)
        else:
            self.memory.clear()

    def _forgotten(self, archived: list[Session]) -> list[Session]:
        for session in archived:
            self.memory.forget_session(session.id)
        return archived
