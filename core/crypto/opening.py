"""Opening the configured store with its sealing layer: what the bot and the CLI use."""

from __future__ import annotations

from core.crypto.envelope import KeyEncryptionKey
from core.crypto.sealing import SealedStore
from core.storage.backends import create_store


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
    store = SealedStore(create_store(url), kek)
    try:
        await store.open()
    except BaseException:
        await store.close()
        raise
    return store
