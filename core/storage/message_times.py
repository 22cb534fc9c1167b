"""Message times: strictly increasing along a session's history.

A client pages through a history by time (``before`` = the time of the oldest
message it has), so no two messages of one history may share a time, even when a
batch of them is stored at once or the clock stands still (tests) or steps back
(NTP). Every store gives each appended message the later of the append's time and
one microsecond after the message before it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

TICK = timedelta(microseconds=1)
"""The smallest step between two stored times (the resolution of every backend)."""


def message_times(at: datetime, after: Iterable[datetime | None], count: int) -> list[datetime]:
    """Return the times of ``count`` messages appended at ``at``, each after the last.

    Args:
        at: the time of the append.
        after: times the first message must come after (the newest message of the
            history it continues); ``None`` entries are
            ignored.
        count: how many messages are appended.
    """
    previous = max((t for t in after if t is not None), default=None)
    times: list[datetime] = []
    for _ in range(count):
        previous = at if previous is None or at > previous else previous + TICK
        times.append(previous)
    return times
