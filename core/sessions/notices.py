"""The words users see about time: when things happen, and why a session ended by itself.

Every time shown to a user is in the zone in force for their conversation (the
channel's, else the bot's), with the zone named.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from core.models import ArchiveReason, Session


def zone_name(zone: tzinfo, at: datetime | None = None) -> str:
    """Name ``zone`` for a user: ``CET`` where it has a lettered abbreviation, else its key."""
    name = zone.tzname(at)
    if name and name.isalpha():
        return name
    return zone.key if isinstance(zone, ZoneInfo) else (name or "UTC")


def format_time(when: datetime, zone: tzinfo) -> str:
    """Return ``when`` in ``zone`` with the zone named: ``2026-01-31 19:05 CET``."""
    local = when.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {zone_name(zone, local.replace(tzinfo=None))}"


def format_duration(delta: timedelta) -> str:
    """Say how long ``delta`` is, as a person would: ``2 min 20 s``, ``3 h 5 min``, ``4 days``."""
    seconds = max(0, int(delta.total_seconds()))
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    if minutes < 1:
        return f"{second} s"
    if hours < 1:
        return f"{minute} min {second} s" if second else f"{minute} min"
    if hours < 48:
        return f"{hours} h {minute} min" if minute else f"{hours} h"
    return f"{hours // 24} days"


def why_it_ended(
    session: Session, *, ended: datetime | None = None, subject: str = "the last one"
) -> str:
    """Say in a few words why an automatically archived session ended.

    Args:
        session: the archived session.
        ended: when its idleness ended (the message that found it idle); its
            archiving time when not given.
        subject: how the session is called in the sentence.
    """
    ended = ended or session.archived_at or session.updated_at
    if session.archive_reason is ArchiveReason.IDLE:
        return f"{subject} was idle for {format_duration(ended - session.last_activity_at)}"
    if session.archive_reason is ArchiveReason.DAILY:
        return "the daily reset time passed"
    return f"{subject} ended ({session.archive_reason or 'archived'})"


def reset_notice(replaced: Session, now: datetime) -> str:
    """The line that starts the first reply of a session that replaced ``replaced``.

    Args:
        replaced: the session that ended.
        now: when the message that starts the new session arrived.
    """
    return (
        f"Started a new session: {why_it_ended(replaced, ended=now)}. "
        f"/session resume {replaced.id} to go back."
    )


def scheduled_reset_notice(archived: Session) -> str:
    """The notice posted in a channel when the scheduler ends its session."""
    return (
        f"This session ended: {why_it_ended(archived, subject='it')}. "
        "Your next message starts a new one; "
        f"/session resume {archived.id} goes back."
    )


def format_when(when: datetime | None, now: datetime, zone: tzinfo) -> str:
    """Format a future instant as ``2026-05-01 04:00 CEST (in 3 h)``."""
    if when is None:
        return "off"
    stamp = format_time(when, zone)
    if when <= now:
        return f"{stamp} (with the next message)"
    return f"{stamp} (in {format_duration(when - now)})"
