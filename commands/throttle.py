"""A per-user rate limit whose memory does not grow with the number of users."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum


class Verdict(Enum):
    """What to do with one message."""

    ALLOW = "allow"
    REFUSE = "refuse"
    """Over the limit: tell the user once."""
    REFUSE_QUIETLY = "refuse-quietly"
    """Still over the limit: already told, so say nothing rather than add to the noise."""


@dataclass(slots=True)
class _Window:
    start: datetime
    count: int = 0


class RateLimiter:
    """Allows each user ``per_minute`` messages per one-minute window.

    Windows are kept for the ``capacity`` most recently seen users only (least
    recently seen are dropped first), so memory stays fixed however many users write.
    A dropped user simply starts a fresh window.

    Args:
        per_minute: messages allowed per window; ``0`` allows everything.
        capacity: how many users' windows are remembered.
    """

    WINDOW = timedelta(minutes=1)

    def __init__(self, per_minute: int, *, capacity: int = 10_000) -> None:
        self.per_minute = per_minute
        self.capacity = capacity
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    def check(self, user: str, now: datetime) -> Verdict:
        """Count one message from ``user`` at ``now`` and say whether it may pass."""
        if self.per_minute <= 0:
            return Verdict.ALLOW
        window = self._windows.pop(user, None)
        if window is None or now - window.start >= self.WINDOW:
            window = _Window(now)
        self._windows[user] = window
        while len(self._windows) > self.capacity:
            self._windows.popitem(last=False)
        window.count += 1
        if window.count <= self.per_minute:
            return Verdict.ALLOW
        return Verdict.REFUSE if window.count == self.per_minute + 1 else Verdict.REFUSE_QUIETLY
