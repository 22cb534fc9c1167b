"""API keys in SQL: the part of :class:`~core.storage.sql.store.SqlStore` for them."""

from __future__ import annotations

from datetime import datetime

from core.api_keys import ApiKey
from core.storage.sql.rows import api_key_from_row, api_key_values
from core.storage.sql.schema import api_keys
from core.storage.sql.units import SqlPart, all_rows, first, rowcount


class SqlApiKeys(SqlPart):
    """API keys: add, read, list, revoke."""

    async def add_api_key(self, key: ApiKey) -> None:
        """See :meth:`core.storage.protocols.Store.add_api_key`."""
        await self._write_quick(rowcount, api_keys.insert().values(api_key_values(key)))

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        """See :meth:`core.storage.protocols.Store.get_api_key`."""
        if self._unstorable(key_id):
            return None
        row = await self._read(first, api_keys.select().where(api_keys.c.id == key_id))
        return None if row is None else api_key_from_row(row)

    async def list_api_keys(self) -> list[ApiKey]:
        """See :meth:`core.storage.protocols.Store.list_api_keys`."""
        query = api_keys.select().order_by(api_keys.c.created_at, api_keys.c.id)
        return [api_key_from_row(row) for row in await self._read_large(all_rows, query)]

    async def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        """See :meth:`core.storage.protocols.Store.revoke_api_key`."""
        revoke = (
            api_keys.update()
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return await self._write_quick(rowcount, revoke) > 0
