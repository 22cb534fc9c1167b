"""The words users see when a session ended by itself."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.models import ArchiveReason, Session


def _duration(delta: timedelta) -> str:
    minutes = max(1, int(delta.total_seconds() // 60))
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} days"


def why_it_ended(session: Session, *, subject: str = "the last one") -> str:
    """Say in a few words why an automatically archived session ended."""
    ended = session.archived_at or session.updated_at
    if session.archive_reason is ArchiveReason.IDLE:
        return f"{subject} was idle for {_duration(ended - session.last_activity_at)}"
    if session.archive_reason is ArchiveReason.DAILY:
        return "the daily reset time passed"
    return f"{subject} ended ({session.archive_reason or 'archived'})"


def reset_notice(replaced: Session) -> str:
    """The line that starts the first reply of a session that replaced ``replaced``."""
    return (
        f"Started a new session: {why_it_ended(replaced)}. "
        f"/session resume {replaced.id} to go back."
    )


def scheduled_reset_notice(archived: Session) -> str:
    """The notice posted in a channel when the scheduler ends its session."""
    return (
        f"This session ended: {why_it_ended(archived, subject='it')}. "
        "Your next message starts a new one; "
        f"/session resume {archived.id} goes back."
    )


def format_when(when: datetime | None, now: datetime) -> str:
    """Format a future instant as ``2026-05-01 04:00 UTC (in 3 h)``."""
    if when is None:
        return "off"
    stamp = when.strftime("%Y-%m-%d %H:%M UTC")
    if when <= now:
        return f"{stamp} (with the next message)"
    return f"{stamp} (in {_duration(when - now)})"
