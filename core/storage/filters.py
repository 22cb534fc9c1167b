"""Which sessions a listing returns: :class:`SessionFilter`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """Which sessions :meth:`core.storage.protocols.Store.list_sessions` returns.

    Attributes:
        scope_key: only sessions of this scope key.
        platform: only sessions created on this platform.
        channel_id: only sessions created in this channel (needs ``platform``).
        status: ``"active"``, ``"archived"`` or ``None`` for both.
        owners: only sessions whose owner (``platform:user_id``) is one of these.
        title_contains: only sessions whose title holds this text, ignoring the
            case of ASCII letters.
        after: ``(created_at, id)`` of the last session of the previous page: only
            sessions after it in listing order (newest first, ties by id), for
            keyset paging that never skips rows the way an offset does.
    """

    scope_key: str | None = None
    platform: str | None = None
    channel_id: str | None = None
    status: str | None = None
    owners: tuple[str, ...] | None = None
    title_contains: str | None = None
    after: tuple[datetime, str] | None = None

    def follows(self, created_at: datetime, session_id: str) -> bool:
        """Tell whether a session comes after :attr:`after` in listing order."""
        return self.after is None or (created_at, session_id) < self.after

    def title_matches(self, title: str | None) -> bool:
        """Tell whether ``title`` passes :attr:`title_contains` (as SQL ``LIKE`` would)."""
        wanted = self.title_contains
        return wanted is None or (title is not None and ascii_lower(wanted) in ascii_lower(title))


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Return ``text`` with its ASCII letters lower-cased, as SQLite's ``lower()`` does."""
    return text.translate(_ASCII_LOWER)
