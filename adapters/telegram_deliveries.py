"""Which Telegram updates this bot has taken, across every worker on the database.

Telegram posts a webhook update again when it got no answer in time, possibly to
another worker behind the load balancer; after a crash, polling may fetch an update
again. Each update id is claimed in the store before it is handled and marked done
after, so an update is handled once: a redelivery of one already done is dropped
(answered 200), and one still being handled elsewhere is answered 503 so Telegram
tries again later. One whose worker died before finishing it (its heartbeat
stopped) is taken over by the worker it is redelivered to, and handled as a
redelivery: what the dead worker stored of it is not stored again.
"""

from __future__ import annotations

import logging
from enum import Enum

from core import Deliveries

logger = logging.getLogger(__name__)


class Taken(Enum):
    """What claiming an update found."""

    NEW = "new"
    """Nobody had it: this worker handles it."""

    DONE = "done"
    """Handled already: drop it."""

    BUSY = "busy"
    """Another worker is handling it: not now."""

    RESUMED = "resumed"
    """Its worker died handling it: this worker takes it over, as a redelivery."""


class UpdateLedger:
    """Claims updates by id in the store the workers share.

    Args:
        deliveries: the store's record of platform events; ``None`` claims nothing
            (every update is new).
        token: the bot's token; update ids are per bot, so the source names the
            bot by the id before the colon (not the secret part).
    """

    def __init__(self, deliveries: Deliveries | None, token: str) -> None:
        self._deliveries = deliveries
        self._source = f"telegram:{token.partition(':')[0][:20]}"

    async def take(self, update_id: int) -> Taken:
        """Claim an update before handling it."""
        if self._deliveries is None:
            return Taken.NEW
        key = str(update_id)
        try:
            if await self._deliveries.first_time(self._source, key):
                return Taken.NEW
            if await self._deliveries.finished(self._source, key):
                return Taken.DONE
            if await self._deliveries.take_over(self._source, key):
                logger.warning("telegram: took over update %d from a worker that died", update_id)
                return Taken.RESUMED
            return Taken.BUSY
        except Exception:
            # Better answered twice than not at all while the store is failing.
            logger.exception("telegram: could not claim update %d; handling it", update_id)
            return Taken.NEW

    async def done(self, update_id: int) -> None:
        """Mark a claimed update handled."""
        if self._deliveries is None:
            return
        try:
            await self._deliveries.finish(self._source, str(update_id))
        except Exception:
            logger.exception("telegram: could not mark update %d handled", update_id)
