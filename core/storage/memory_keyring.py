"""The in-memory keyring: the part of :class:`~core.storage.memory.MemoryStore` for keys."""

from __future__ import annotations

import dataclasses

from core.errors import ConflictError
from core.storage.keyring import KeyringEntry


class MemoryKeyring:
    """Wrapped data keys and the master key check, in a dictionary."""

    def __init__(self) -> None:
        super().__init__()
        self._keyring: dict[str, KeyringEntry] = {}

    async def keyring_get(self, name: str) -> KeyringEntry | None:
        """See :meth:`core.storage.keyring.Keyring.keyring_get`."""
        return self._keyring.get(name)

    async def keyring_add(self, entry: KeyringEntry) -> KeyringEntry:
        """See :meth:`core.storage.keyring.Keyring.keyring_add`."""
        return self._keyring.setdefault(entry.name, entry)

    async def keyring_delete(self, name: str) -> None:
        """See :meth:`core.storage.keyring.Keyring.keyring_delete`."""
        self._keyring.pop(name, None)

    async def keyring_page(self, prefix: str, after: str, limit: int) -> list[KeyringEntry]:
        """See :meth:`core.storage.keyring.Keyring.keyring_page`."""
        names = sorted(n for n in self._keyring if n.startswith(prefix) and n > after)
        return [self._keyring[n] for n in names[:limit]]

    async def keyring_stage(self, name: str, next_value: bytes, next_version: int) -> None:
        """See :meth:`core.storage.keyring.Keyring.keyring_stage`."""
        entry = self._keyring.get(name)
        if entry is not None:
            self._keyring[name] = dataclasses.replace(
                entry, next_value=next_value, next_version=next_version
            )

    async def keyring_commit(self, check: KeyringEntry, *, require_prefix: str) -> int:
        """See :meth:`core.storage.keyring.Keyring.keyring_commit`."""
        if await self.keyring_unstaged(require_prefix, check.version):
            raise ConflictError("a data key was added after staging")
        swapped = 0
        for name, entry in list(self._keyring.items()):
            if entry.next_value is not None and entry.next_version is not None:
                self._keyring[name] = KeyringEntry(name, entry.next_value, entry.next_version)
                swapped += 1
        self._keyring[check.name] = check
        return swapped

    async def keyring_unstaged(self, prefix: str, version: int) -> int:
        """See :meth:`core.storage.keyring.Keyring.keyring_unstaged`."""
        return sum(
            1
            for name, entry in self._keyring.items()
            if name.startswith(prefix) and entry.next_version != version
        )
