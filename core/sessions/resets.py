"""The reset policy: when a session ends by itself (daily and idle resets).

Pure functions of (session, policy, now), evaluated lazily on every inbound message
and, for sessions nobody writes to, by the scheduler's jobs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from core.limits import RESET_TIME
from core.models import ArchiveReason, ChannelSettings, Session
from core.storage.protocols import InForce, ResetSetting, RuleSelector, SweepPlan

__all__ = [
    "ResetOverride",
    "ResetPolicy",
    "ResetRules",
    "RuleSelector",
    "configured_schedules",
    "due_reset",
    "last_daily_boundary",
    "local_instant",
    "next_daily_boundary",
    "next_resets",
    "parse_reset_time",
    "session_started",
]

_MAX_GAP_MINUTES = 24 * 60
V = TypeVar("V", str, int)
_UTC = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class ResetPolicy:
    """The reset rules in force for one channel.

    Attributes:
        daily_time: local time of the daily reset, or ``None`` for no daily reset.
        timezone: the timezone ``daily_time`` is read in.
        idle_minutes: minutes of user silence that end a session, or ``None``.
        grace_minutes: a daily boundary that falls inside a live conversation waits
            until the user has been quiet this long.
    """

    daily_time: time | None = None
    timezone: ZoneInfo = _UTC
    idle_minutes: int | None = None
    grace_minutes: int = 0

    @property
    def is_off(self) -> bool:
        """Whether this policy never resets anything."""
        return self.daily_time is None and self.idle_minutes is None


@functools.lru_cache(maxsize=256)
def parse_reset_time(text: str) -> time | None:
    """Parse ``HH:MM`` (24-hour, ASCII digits) or ``off``.

    Raises:
        ValueError: with a message saying what is expected.
    """
    value = text.strip().lower()
    if value == "off":
        return None
    match = RESET_TIME.fullmatch(value)
    if match is not None and int(match[1]) < 24 and int(match[2]) < 60:
        return time(int(match[1]), int(match[2]))
    raise ValueError(f"expected HH:MM (24-hour) or off, not {text[:32]!r}")


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Return the instant of local time ``at`` on ``day`` in ``zone``, as UTC.

    A local time that does not exist that day (the clocks jump over it) resolves to
    the first valid instant after it; one that exists twice resolves to the first.
    """
    naive = datetime.combine(day, at)
    for minute in range(_MAX_GAP_MINUTES):
        candidate = naive + timedelta(minutes=minute)
        aware = candidate.replace(tzinfo=zone, fold=0)
        if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == candidate:
            return aware.astimezone(UTC)
    raise ValueError(f"no valid local time after {naive} in {zone}")  # pragma: no cover


# Asked on every message with the same session start: memoised (a few KB at most).
@functools.lru_cache(maxsize=4096)
def next_daily_boundary(after: datetime, at: time, zone: ZoneInfo) -> datetime:
    """Return the first daily reset instant strictly after ``after`` (UTC)."""
    day = after.astimezone(zone).date() - timedelta(days=1)
    while True:
        boundary = local_instant(day, at, zone)
        if boundary > after:
            return boundary
        day += timedelta(days=1)


def session_started(session: Session) -> datetime:
    """When the session's daily clock started: creation, or its last resume."""
    return session.resumed_at or session.created_at


def due_reset(session: Session, policy: ResetPolicy, now: datetime) -> ArchiveReason | None:
    """Return why the session should end now, or ``None`` if it lives on.

    Idle counts from the last *user* message. A daily reset is due once a boundary
    has passed since the session started and the user has been quiet for
    ``grace_minutes``, so a boundary inside a live conversation waits for a pause.
    """
    quiet = now - session.last_activity_at
    if policy.idle_minutes is not None and quiet >= timedelta(minutes=policy.idle_minutes):
        return ArchiveReason.IDLE
    if policy.daily_time is not None:
        boundary = next_daily_boundary(session_started(session), policy.daily_time, policy.timezone)
        if now >= boundary and quiet >= timedelta(minutes=policy.grace_minutes):
            return ArchiveReason.DAILY
    return None


def next_resets(
    session: Session, policy: ResetPolicy, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """Return when the daily and the idle reset would happen if nothing changes."""
    daily = None
    if policy.daily_time is not None:
        boundary = next_daily_boundary(session_started(session), policy.daily_time, policy.timezone)
        quiet_from = session.last_activity_at + timedelta(minutes=policy.grace_minutes)
        daily = max(boundary, quiet_from, now)
    idle = None
    if policy.idle_minutes is not None:
        idle = max(session.last_activity_at + timedelta(minutes=policy.idle_minutes), now)
    return daily, idle


@dataclass(frozen=True, slots=True)
class ResetOverride:
    """Configured reset settings for the sessions a selector matches.

    ``None`` in a field means "not overridden here"; ``"off"`` and ``0`` turn a
    reset off.
    """

    selector: RuleSelector
    daily_reset_time: str | None = None
    idle_reset_minutes: int | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class ResetRules:
    """Reset settings from config: defaults, then ``[[sessions.overrides]]`` in order.

    Per-channel settings stored by admins win over both. Each field is resolved on its
    own: a channel that only sets an idle reset keeps the configured daily one.
    """

    daily_reset_time: str = "off"
    idle_reset_minutes: int = 0
    timezone: str = "UTC"
    grace_minutes: int = 0
    overrides: tuple[ResetOverride, ...] = ()

    daily_in_force: InForce[str] = field(init=False, repr=False, compare=False)
    """The daily ``HH:MM`` (or ``off``) in force: channel setting, override, default."""
    idle_in_force: InForce[int] = field(init=False, repr=False, compare=False)
    """The idle minutes in force (0 is off): channel setting, override, default."""
    timezone_in_force: InForce[str] = field(init=False, repr=False, compare=False)
    """The timezone name in force: channel setting, override, default."""

    def __post_init__(self) -> None:
        # Built once: every resolve evaluates them.
        set_field = object.__setattr__  # the dataclass is frozen
        set_field(self, "daily_in_force", self._in_force("daily_reset_time", self.daily_reset_time))
        set_field(
            self, "idle_in_force", self._in_force("idle_reset_minutes", self.idle_reset_minutes)
        )
        set_field(self, "timezone_in_force", self._in_force("timezone", self.timezone))

    def _in_force(self, setting: ResetSetting, default: V) -> InForce[V]:
        cases = tuple(
            (o.selector, value)
            for o in self.overrides
            if (value := getattr(o, setting)) is not None
        )
        return InForce(setting, cases, default)

    def effective_daily(self, session: Session, settings: ChannelSettings | None) -> str:
        """Return the ``HH:MM`` or ``off`` in force for ``session``."""
        return self.daily_in_force.value_for(session, settings)

    def effective_idle(self, session: Session, settings: ChannelSettings | None) -> int:
        """Return the idle minutes in force for ``session`` (0 is off)."""
        return self.idle_in_force.value_for(session, settings)

    def effective_timezone(self, session: Session, settings: ChannelSettings | None) -> str:
        """Return the timezone name in force for ``session``."""
        return self.timezone_in_force.value_for(session, settings)

    def idle_sweep(self) -> SweepPlan:
        """Return the plan of the idle sweep: every session idle past the limit in force."""
        return SweepPlan(ArchiveReason.IDLE, idle_limit=self.idle_in_force)

    def daily_sweep(self, schedule: tuple[str, str], now: datetime) -> SweepPlan | None:
        """Return the plan of the daily reset on ``schedule`` (``HH:MM``, timezone) at ``now``.

        It archives the sessions whose daily reset and timezone in force are
        ``schedule``, that started before its latest boundary at or before ``now``,
        and whose user has been quiet for ``grace_minutes``. ``None`` for ``off``.
        """
        at = parse_reset_time(schedule[0])
        if at is None:
            return None
        return SweepPlan(
            ArchiveReason.DAILY,
            equal=((self.daily_in_force, schedule[0]), (self.timezone_in_force, schedule[1])),
            quiet_since=now - timedelta(minutes=self.grace_minutes),
            started_before=last_daily_boundary(now, at, ZoneInfo(schedule[1])),
        )

    def policy_for(self, session: Session, settings: ChannelSettings | None) -> ResetPolicy:
        """Return the policy in force for ``session`` given its channel's settings."""
        idle = self.effective_idle(session, settings)
        return ResetPolicy(
            daily_time=parse_reset_time(self.effective_daily(session, settings)),
            timezone=ZoneInfo(self.effective_timezone(session, settings)),
            idle_minutes=idle or None,
            grace_minutes=self.grace_minutes,
        )


def last_daily_boundary(now: datetime, at: time, zone: ZoneInfo) -> datetime:
    """Return the latest daily reset instant at or before ``now`` (UTC)."""
    day = now.astimezone(zone).date() + timedelta(days=1)
    while True:
        boundary = local_instant(day, at, zone)
        if boundary <= now:
            return boundary
        day -= timedelta(days=1)


def configured_schedules(rules: ResetRules) -> set[tuple[str, str]]:
    """Return the (``HH:MM``, timezone) pairs config alone can put in force."""
    times = {rules.daily_reset_time} | {
        o.daily_reset_time for o in rules.overrides if o.daily_reset_time is not None
    }
    zones = {rules.timezone} | {o.timezone for o in rules.overrides if o.timezone is not None}
    return {(t, z) for t in times for z in zones if t != "off"}
