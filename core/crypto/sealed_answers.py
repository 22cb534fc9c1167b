"""The answers kept for API retries, sealed like the session they are about.

Part of :class:`~core.crypto.sealing.SealedStore`: an answer kept by
:meth:`~core.storage.protocols.Store.answer_delivery` holds what users wrote (a
message, the agent's reply), so with encryption on it is sealed under the data key
of its session, and becomes unreadable (read as no answer) when that session is
deleted and its key with it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from core.crypto.data_keys import DataKeys
from core.crypto.envelope import DecryptionError, open_plain, store_plain
from core.storage.forwarding import ForwardingStore
from core.storage.records import DeliveryAnswer

log = logging.getLogger(__name__)


class AnswerSealing(ForwardingStore):
    """Seals and opens kept answers; :class:`SealedStore` sets :attr:`_keys`."""

    _keys: DataKeys

    async def answer_delivery(
        self, source: str, delivery_id: str, at: datetime, answer: DeliveryAnswer
    ) -> None:
        """See :meth:`Store.answer_delivery`."""
        sealer = await self._keys.sealer(answer.session_id, create=True)
        context = f"delivery:{source}:{delivery_id}"
        text = sealer.seal(answer.text, context) if sealer else store_plain(answer.text)
        await self.inner.answer_delivery(
            source, delivery_id, at, DeliveryAnswer(answer.session_id, text)
        )

    async def delivery_answer(self, source: str, delivery_id: str) -> DeliveryAnswer | None:
        """See :meth:`Store.delivery_answer`; ``None`` for one that no longer opens."""
        kept = await self.inner.delivery_answer(source, delivery_id)
        if kept is None:
            return None
        sealer = await self._keys.sealer(kept.session_id, create=False)
        context = f"delivery:{source}:{delivery_id}"
        try:
            text = sealer.open(kept.text, context) if sealer else open_plain(kept.text)
        except DecryptionError:
            log.warning("a kept answer of %s does not open (its session is gone?)", source)
            return None
        return DeliveryAnswer(kept.session_id, text)
