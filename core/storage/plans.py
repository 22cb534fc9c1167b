"""Which sessions a scheduled reset sweep archives: the plan every store runs.

Built by :mod:`core.sessions.resets` from the configured rules, run by each backend
with :meth:`core.storage.protocols.Store.archive_due`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from core.models import ArchiveReason, ChannelSettings, Session, SessionStatus

__all__ = ["InForce", "ResetSetting", "RuleSelector", "SweepPlan"]


V = TypeVar("V", str, int)

ResetSetting = Literal["daily_reset_time", "idle_reset_minutes", "timezone"]
"""A field of :class:`~core.models.ChannelSettings` that a reset rule reads."""


@dataclass(frozen=True, slots=True)
class RuleSelector:
    """Which sessions a configured override applies to; ``None`` matches anything.

    Attributes:
        platform: the platform the session lives on.
        channel_id: the channel it was created in.
        is_direct: ``True`` for one-to-one chats, ``False`` for groups and channels.
    """

    platform: str | None = None
    channel_id: str | None = None
    is_direct: bool | None = None

    def matches(self, session: Session) -> bool:
        """Tell whether the override applies to ``session``."""
        return (
            (self.platform is None or self.platform == session.platform)
            and (self.channel_id is None or self.channel_id == session.channel_id)
            and (self.is_direct is None or self.is_direct == session.is_direct)
        )


@dataclass(frozen=True, slots=True)
class InForce(Generic[V]):
    """How one reset setting's value in force for a session is decided: the policy, as data.

    The channel's stored setting wins when it is set; otherwise the first case whose
    selector matches the session; otherwise the default. :mod:`core.sessions.resets`
    builds these from config and evaluates them with :meth:`value_for`; the memory
    store does too, and the SQL store compiles the same object to
    ``COALESCE(setting, CASE … END)``.

    Attributes:
        setting: the :class:`~core.models.ChannelSettings` field that wins when not None.
        cases: ``(selector, value)`` pairs, in order.
        default: the value when neither applies.
    """

    setting: ResetSetting
    cases: tuple[tuple[RuleSelector, V], ...]
    default: V

    def value_for(self, session: Session, settings: ChannelSettings | None) -> V:
        """Return the value in force for ``session``, given its channel's settings."""
        if settings is not None:
            stored: V | None = getattr(settings, self.setting)
            if stored is not None:
                return stored
        for selector, value in self.cases:
            if selector.matches(session):
                return value
        return self.default


@dataclass(frozen=True, slots=True)
class SweepPlan:
    """Which active sessions a scheduled sweep archives, and with what reason.

    Built by :mod:`core.sessions.resets` from the configured rules; every store runs
    it with :meth:`Store.archive_due`, and it holds for a session when all of these do:

    Attributes:
        reason: the archive reason the sweep records.
        equal: ``(in_force, value)`` pairs: the setting in force is that value.
        quiet_since: the last user message is at or before this instant.
        idle_limit: the last user message is at least this many minutes (the value in
            force; 0 is never) before the sweep's ``now``. The store, which alone
            knows the values channels have stored, sweeps once per distinct limit.
        started_before: the session started (or was last resumed) before this instant.
    """

    reason: ArchiveReason
    equal: tuple[tuple[InForce[Any], Any], ...] = ()
    quiet_since: datetime | None = None
    idle_limit: InForce[int] | None = None
    started_before: datetime | None = None

    def holds_for(self, session: Session, settings: ChannelSettings | None, now: datetime) -> bool:
        """Tell whether the sweep at ``now`` archives ``session``."""
        if session.status is not SessionStatus.ACTIVE:
            return False
        if any(f.value_for(session, settings) != value for f, value in self.equal):
            return False
        if self.quiet_since is not None and session.last_activity_at > self.quiet_since:
            return False
        if self.idle_limit is not None:
            minutes = self.idle_limit.value_for(session, settings)
            if not minutes or session.last_activity_at > now - timedelta(minutes=minutes):
                return False
        started = session.resumed_at or session.created_at
        return self.started_before is None or started < self.started_before
