"""Small helpers that keep the commands' replies consistent."""

from __future__ import annotations

from core.models import Session
from core.sessions.notices import format_time

__all__ = ["format_time", "one_line", "plural", "session_label"]


def plural(count: int, noun: str) -> str:
    """Return ``"1 message"`` or ``"3 messages"``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def one_line(text: str, limit: int) -> str:
    """Collapse whitespace and cut ``text`` to ``limit`` characters, marking the cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def session_label(session: Session) -> str:
    """Return a session's id and, if it has one, its title: ``abc123 "Trip plans"``."""
    return f'{session.id} "{session.title}"' if session.title else session.id
