"""The in-memory API keys: the part of :class:`~core.storage.memory.MemoryStore` for them."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from core.api_keys import ApiKey
from core.errors import ConflictError


class MemoryApiKeys:
    """API keys in a dictionary."""

    def __init__(self) -> None:
        super().__init__()
        self._api_keys: dict[str, ApiKey] = {}

    async def add_api_key(self, key: ApiKey) -> None:
        """See :meth:`core.storage.protocols.Store.add_api_key`."""
        if key.id in self._api_keys:
            raise ConflictError(f"API key {key.id!r} exists")
        self._api_keys[key.id] = key

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        """See :meth:`core.storage.protocols.Store.get_api_key`."""
        return self._api_keys.get(key_id)

    async def list_api_keys(self) -> list[ApiKey]:
        """See :meth:`core.storage.protocols.Store.list_api_keys`."""
        return sorted(self._api_keys.values(), key=lambda key: (key.created_at, key.id))

    async def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        """See :meth:`core.storage.protocols.Store.revoke_api_key`."""
        key = self._api_keys.get(key_id)
        if key is None or key.revoked:
            return False
        self._api_keys[key_id] = dataclasses.replace(key, revoked_at=at)
        return True
