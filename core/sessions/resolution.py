"""Resolution: the active session an inbound message belongs to, after any reset due."""

from __future__ import annotations

from dataclasses import dataclass

from core.clock import Clock
from core.models import ArchiveReason, Inbound, Session
from core.sessions.channels import Channels, Placement
from core.sessions.config import SessionConfig
from core.sessions.lifecycle import Lifecycle
from core.sessions.resets import ResetPolicy, ResetRules, due_reset
from core.sessions.scope import ScopeKey
from core.storage.caching import CachingStore
from core.storage.protocols import SessionFilter

_AUTOMATIC = (ArchiveReason.DAILY, ArchiveReason.IDLE)


@dataclass(frozen=True, slots=True)
class Resolution:
    """The session an inbound message belongs to.

    Attributes:
        session: the active session of the message's scope key.
        key: the scope key.
        replaced: the session an automatic reset ended just before this one began:
            archived by this resolve, or earlier (by the scheduler) while nobody wrote.
        replaced_earlier: ``replaced`` was archived before this message arrived, so
            the scheduler may have told the channel already.
    """

    session: Session
    key: ScopeKey
    replaced: Session | None = None
    replaced_earlier: bool = False


class Resolver:
    """Finds or starts the active session of a message, applying the reset policy.

    Args:
        store: the caching store.
        clock: source of the current time.
        config: the operator's session settings (reset rules).
        channels: places messages under their scope key.
        lifecycle: starts sessions.
    """

    def __init__(
        self,
        store: CachingStore,
        clock: Clock,
        config: SessionConfig,
        channels: Channels,
        lifecycle: Lifecycle,
    ) -> None:
        self._store = store
        self._clock = clock
        self._config = config
        self._channels = channels
        self._lifecycle = lifecycle

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
            placement: what :meth:`Channels.place` returned for it, if the caller has
                it already (the router does, to lock the scope key); else it is read.
            remembered: start from the session this process remembers for the
                scope key, if any (plain messages: the append that follows checks
                that it is still active, see :mod:`core.storage.live`); else read it.
        """
        placement = placement or await self._channels.place(inbound, remembered=remembered)
        if remembered:
            known = self._store.remembered_session(placement.key.value)
            # A reset the remembered session says is due is checked on the stored one.
            if known is not None and await self.due_reset(known, placement) is None:
                return Resolution(session=known, key=placement.key)
        return await self._resolve_stored(inbound, placement)

    async def _resolve_stored(self, inbound: Inbound, placement: Placement) -> Resolution:
        key = placement.key
        session = await self._store.get_active_session(key.value)
        if session is None:
            return await self._start_after_gap(inbound, key)
        reason = await self.due_reset(session, placement)
        if reason is None:
            return Resolution(session=session, key=key)
        fresh = await self._lifecycle.start(
            inbound, key, archive=session, reason=reason, carry=session
        )
        replaced = await self._store.get_session(session.id)
        return Resolution(session=fresh, key=key, replaced=replaced)

    async def _start_after_gap(self, inbound: Inbound, key: ScopeKey) -> Resolution:
        latest = await self._store.list_sessions(SessionFilter(scope_key=key.value), limit=1)
        previous = latest[0] if latest else None
        automatic = previous is not None and previous.archive_reason in _AUTOMATIC
        session = await self._lifecycle.start(inbound, key, carry=previous if automatic else None)
        if not automatic:
            return Resolution(session=session, key=key)
        return Resolution(session=session, key=key, replaced=previous, replaced_earlier=True)

    async def due_reset(
        self, session: Session, placement: Placement | None = None
    ) -> ArchiveReason | None:
        """Return why ``session`` should be reset now, or ``None``.

        Args:
            session: the session.
            placement: a message's placement whose channel settings may be reused.
        """
        if self._config.reset_rules is None:
            return None
        policy = await self.reset_policy(session, placement)
        return due_reset(session, policy, self._clock.now())

    async def reset_policy(
        self, session: Session, placement: Placement | None = None
    ) -> ResetPolicy:
        """Return the reset policy in force for ``session``.

        Args:
            session: the session.
            placement: a message's placement; its channel settings are used when
                they are the session's channel's, instead of reading them again.
        """
        rules = self._config.reset_rules or ResetRules()
        if placement is not None and placement.channel_key == session.channel_key:
            settings = placement.settings
        else:
            settings = await self._store.get_channel_settings(session.channel_key)
        return rules.policy_for(session, settings)
