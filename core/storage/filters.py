"""Which sessions a listing returns: :class:`SessionFilter`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.models import Session


class SessionOrder(StrEnum):
    """The order of a listing: newest first by one time, ties by id (descending)."""

    CREATED = "created"
    """By ``created_at``: a session keeps its place."""
    ACTIVITY = "activity"
    """By ``last_activity_at``: the most recently active first (a session moves up as
    it is used, so a listing paged while conversations go on may show it twice)."""

    def key(self, session: Session) -> tuple[datetime, str]:
        """Return ``(time, id)`` of ``session`` in this order (compared descending)."""
        return self.time_of(session), session.id

    def time_of(self, session: Session) -> datetime:
        """Return the time ``session`` is ordered by."""
        return session.created_at if self is SessionOrder.CREATED else session.last_activity_at


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
        tag_contains: only sessions with a tag holding this text (tags are stored
            case-folded; give it case-folded too, as :func:`core.tag_of` does).
        order: the listing's order (:class:`SessionOrder`).
        after: ``(time, id)`` of the last session of the previous page, its time
            the one ``order`` sorts by: only sessions after it in listing order,
            for keyset paging that never skips rows the way an offset does.
    """

    scope_key: str | None = None
    platform: str | None = None
    channel_id: str | None = None
    status: str | None = None
    owners: tuple[str, ...] | None = None
    title_contains: str | None = None
    tag_contains: str | None = None
    order: SessionOrder = SessionOrder.CREATED
    after: tuple[datetime, str] | None = None

    @property
    def holds_nul(self) -> bool:
        """Whether a value it looks for holds U+0000, which PostgreSQL text cannot store.

        Stored titles and tags holding it are escaped (:mod:`core.crypto.envelope`),
        so only a comparison after opening them finds them; ids and platform names
        never hold it.
        """
        looked_for = (self.scope_key, self.platform, self.channel_id, *(self.owners or ()))
        texts = (*looked_for, self.title_contains, self.tag_contains)
        return any(text is not None and "\x00" in text for text in texts)

    @property
    def sealed_fields(self) -> bool:
        """Whether it filters on what is sealed when encryption is on (title, tags)."""
        return self.title_contains is not None or self.tag_contains is not None

    def follows(self, session: Session) -> bool:
        """Tell whether ``session`` comes after :attr:`after` in listing order."""
        return self.after is None or self.order.key(session) < self.after

    def title_matches(self, title: str | None) -> bool:
        """Tell whether ``title`` passes :attr:`title_contains` (as SQL ``LIKE`` would)."""
        wanted = self.title_contains
        return wanted is None or (title is not None and ascii_lower(wanted) in ascii_lower(title))

    def tags_match(self, tags: tuple[str, ...]) -> bool:
        """Tell whether one of ``tags`` holds :attr:`tag_contains`."""
        wanted = self.tag_contains
        return wanted is None or any(wanted in tag for tag in tags)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Return ``text`` with its ASCII letters lower-cased, as SQLite's ``lower()`` does."""
    return text.translate(_ASCII_LOWER)
