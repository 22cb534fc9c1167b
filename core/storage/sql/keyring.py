"""Wrapped data keys and the master key check in SQL: the part of the store for the keyring."""

from __future__ import annotations

import sqlalchemy as sa

from core.errors import ConflictError
from core.storage.keyring import KeyringEntry
from core.storage.sql.rows import keyring_from_row, keyring_values
from core.storage.sql.schema import keyring
from core.storage.sql.units import DIALECTS, LARGE_READ, SqlPart, all_rows, as_text, rowcount


class SqlKeyring(SqlPart):
    """The keyring: add, read, page through, delete, and rotate in two steps."""

    async def keyring_get(self, name: str) -> KeyringEntry | None:
        """See :meth:`core.storage.keyring.Keyring.keyring_get`."""
        return await self._read(_keyring_entry, name)

    async def keyring_add(self, entry: KeyringEntry) -> KeyringEntry:
        """See :meth:`core.storage.keyring.Keyring.keyring_add`."""
        stored = await self._write_quick(_keyring_add, _ADD_KEY[self._dialect], entry)
        if stored is None:  # deleted between the insert and the read; cannot happen
            raise ConflictError(f"keyring entry {entry.name!r} vanished")  # pragma: no cover
        return stored

    async def keyring_delete(self, name: str) -> None:
        """See :meth:`core.storage.keyring.Keyring.keyring_delete`."""
        await self._write_quick(rowcount, keyring.delete().where(keyring.c.name == name))

    async def keyring_page(self, prefix: str, after: str, limit: int) -> list[KeyringEntry]:
        """See :meth:`core.storage.keyring.Keyring.keyring_page`."""
        query = (
            sa.select(keyring)
            .where(keyring.c.name.startswith(prefix, autoescape=True), keyring.c.name > after)
            .order_by(keyring.c.name)
            .limit(limit)
        )
        read = self._read if limit <= LARGE_READ else self._read_large
        return [keyring_from_row(row) for row in await read(all_rows, query)]

    async def keyring_stage(self, name: str, next_value: bytes, next_version: int) -> None:
        """See :meth:`core.storage.keyring.Keyring.keyring_stage`."""
        stage = (
            keyring.update()
            .where(keyring.c.name == name)
            .values(next_value=next_value, next_version=next_version)
        )
        await self._write_quick(rowcount, stage)

    async def keyring_commit(self, check: KeyringEntry, *, require_prefix: str) -> int:
        """See :meth:`core.storage.keyring.Keyring.keyring_commit`."""
        return await self._write_quick(_keyring_commit, check, require_prefix)

    async def keyring_unstaged(self, prefix: str, version: int) -> int:
        """See :meth:`core.storage.keyring.Keyring.keyring_unstaged`."""
        return await self._read(_count_unstaged, prefix, version)


_KEY_BY_NAME = sa.select(keyring).where(keyring.c.name == sa.bindparam("name"))
_ADD_KEY = {
    name: as_text(dml.insert(keyring).on_conflict_do_nothing(), dialect, list(keyring.c))
    for name, dml, dialect in DIALECTS
}
"""Insert a key unless one of its name exists, as cached SQL text (see ``as_text``)."""


def _keyring_entry(conn: sa.Connection, name: str) -> KeyringEntry | None:
    row = conn.execute(_KEY_BY_NAME, {"name": name}).mappings().first()
    return None if row is None else keyring_from_row(row)


def _keyring_add(
    conn: sa.Connection, add: sa.Executable, entry: KeyringEntry
) -> KeyringEntry | None:
    added = conn.execute(add, keyring_values(entry)).mappings().first()
    # Nothing returned: the name was taken (another worker's key); that one counts.
    return keyring_from_row(added) if added is not None else _keyring_entry(conn, entry.name)


def _keyring_commit(conn: sa.Connection, check: KeyringEntry, require_prefix: str) -> int:
    if conn.dialect.name == "postgresql":
        # A data key added between the count and the swap would stay wrapped
        # under the retired key; this lock holds new keys back until commit.
        conn.execute(sa.text("LOCK TABLE keyring IN EXCLUSIVE MODE"))
    if _count_unstaged(conn, require_prefix, check.version):
        raise ConflictError("a data key was added after staging")
    swapped = conn.execute(
        keyring.update()
        .where(keyring.c.next_value.is_not(None), keyring.c.next_version.is_not(None))
        .values(
            value=keyring.c.next_value,
            version=keyring.c.next_version,
            next_value=None,
            next_version=None,
        )
    )
    conn.execute(keyring.delete().where(keyring.c.name == check.name))
    conn.execute(keyring.insert().values(keyring_values(check)))
    return swapped.rowcount


def _count_unstaged(conn: sa.Connection, prefix: str, version: int) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(keyring)
        .where(
            keyring.c.name.startswith(prefix, autoescape=True),
            keyring.c.next_version.is_distinct_from(version),
        )
    )
    return int(conn.execute(query).scalar_one())
