"""Changes other processes must hear of: what one worker's memory of conversations drops.

Each process remembers conversations in progress (:mod:`core.storage.caching`). A
write through one process drops what that process remembers of the session or
channel it changed; with several workers on one database, every other worker must
drop it too before its next message, not after a time-out or an eviction. A
:class:`ChangeFeed` carries those drops between processes: the caching layer
announces each change after its write has committed, and applies the changes other
processes announce. On PostgreSQL the feed is ``LISTEN``/``NOTIFY``
(:mod:`core.storage.sql.notify`); one process on its own needs none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Scope(StrEnum):
    """What a change is about."""

    SESSION = "session"
    """A session (by id): changed, archived, resumed, deleted or moved to another head."""

    SCOPE = "scope"
    """A scope key, whose active session changed."""

    CHANNEL = "channel"
    """A channel's settings (by channel key)."""

    EVERYTHING = "everything"
    """Changes may have been missed (the feed was cut off): forget everything."""


@dataclass(frozen=True, slots=True)
class Change:
    """One thing a process must forget what it remembers of.

    Attributes:
        scope: what kind of thing changed.
        key: its id or key (empty for :attr:`Scope.EVERYTHING`).
    """

    scope: Scope
    key: str = ""


Listener = Callable[[Change], None]
"""Applies a change another process announced (called on the event loop)."""


class ChangeFeed(Protocol):
    """Carries :class:`Change` announcements between the processes sharing a database."""

    def announce(self, change: Change) -> None:
        """Tell the other processes of a committed change; returns at once."""
        ...

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` with every change another process announces."""
        ...
