"""Opening the configured store with its sealing layer: what the bot and the CLI use."""

from __future__ import annotations

from core.crypto.envelope import KeyEncryptionKey
from core.crypto.sealing import SealedStore
from core.storage.backends import create_store, opened


async def open_store(url: str, *, master_key: bytes | None = None) -> SealedStore:
    """Return the store ``url`` selects, connected, migrated and key-checked.

    Args:
        url: the ``[storage] url``.
        master_key: the 32-byte master key when encryption is enabled, else ``None``.

    Raises:
        ConfigError: the URL is not a valid storage URL, the master key does not
            match the database, or the database is encrypted and no key was given.
        StorageError: the database cannot be reached, created or migrated.
    """
    kek = KeyEncryptionKey(master_key) if master_key is not None else None
    return await opened(SealedStore(create_store(url), kek))


async def upgrade_checked(url: str, *, master_key: bytes | None = None) -> None:
    """Apply pending migrations and check the master key, exactly as start-up does.

    Raises:
        ConfigError: the URL is not valid, or the master key does not fit the
            database (wrong, missing on an encrypted database).
        StorageError: the database cannot be reached, created or migrated.
    """
    store = await open_store(url, master_key=master_key)
    await store.close()
