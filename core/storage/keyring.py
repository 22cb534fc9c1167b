"""The keyring protocol: wrapped data keys and the master key check.

Only the encryption layer (:mod:`core.crypto`) uses it; the names of its entries are
that layer's business, so a backend treats them as opaque strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class KeyringEntry:
    """One row of the keyring: a wrapped data key, or the master key check.

    Attributes:
        name: an opaque name chosen by the encryption layer.
        value: the wrapped key (or check value).
        version: the master key version that made ``value``.
        next_value: during a key rotation, ``value`` re-made under the new key.
        next_version: the new key's version, with ``next_value``.
    """

    name: str
    value: bytes
    version: int
    next_value: bytes | None = None
    next_version: int | None = None


class Keyring(Protocol):
    """Keeps keyring entries; every method is one transaction."""

    async def keyring_get(self, name: str) -> KeyringEntry | None:
        """Return the keyring entry ``name``."""
        ...

    async def keyring_add(self, entry: KeyringEntry) -> KeyringEntry:
        """Insert an entry unless one of that name exists; return the stored one.

        Two workers creating a data key for one session at once end with one key.
        """
        ...

    async def keyring_delete(self, name: str) -> None:
        """Delete a keyring entry (crypto-shredding, for a session's data key)."""
        ...

    async def keyring_page(self, prefix: str, after: str, limit: int) -> list[KeyringEntry]:
        """Return entries whose name starts with ``prefix`` and sorts after ``after``."""
        ...

    async def keyring_stage(self, name: str, next_value: bytes, next_version: int) -> None:
        """Record a re-wrapped value for ``name``, to be swapped in by a commit."""
        ...

    async def keyring_commit(self, check: KeyringEntry, *, require_prefix: str) -> int:
        """Swap every staged value in and store ``check``, in one transaction.

        Returns:
            How many entries were swapped.

        Raises:
            ConflictError: an entry under ``require_prefix`` has no staged value of
                ``check.version`` (created after staging); nothing was changed.
        """
        ...

    async def keyring_unstaged(self, prefix: str, version: int) -> int:
        """Count entries under ``prefix`` with no staged value of ``version``."""
        ...
