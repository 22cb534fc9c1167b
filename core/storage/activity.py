"""What the bot has been doing lately, counted by the database for every worker.

Part of the :class:`~core.storage.protocols.Store` protocol: the operator console's
overview shows these, and several workers share one database, so they are counted
there rather than in one process's memory. Only times and kinds are read, never
what was said (nothing sealed is opened).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.models import ArchiveReason


class Activity(Protocol):
    """Messages per minute and sessions ended, over a recent span."""

    async def messages_per_minute(self, since: datetime) -> dict[datetime, int]:
        """Return how many user messages were stored in each minute from ``since`` on.

        Keys are the minutes' starts (aware UTC, seconds zero); a minute without a
        message is left out. Messages are found by their ids, which sort by the time
        they were made (:func:`core.ids.new_ordered_ids`, as every append through
        :mod:`core.sessions.history` makes them).
        """
        ...

    async def sessions_ended(self, since: datetime) -> dict[ArchiveReason, int]:
        """Return how many sessions were archived at or after ``since``, by reason.

        A reason no session ended for is left out.
        """
        ...
