"""Data keys: one per session, stored wrapped under the master key, unwrapped on demand."""

from __future__ import annotations

import logging
from collections import OrderedDict

from core.crypto.envelope import DecryptionError, KeyEncryptionKey, Sealer
from core.errors import ConfigError
from core.storage.keyring import Keyring, KeyringEntry

log = logging.getLogger(__name__)

CHECK_ENTRY = "check"
"""Keyring name of the master key check."""

DATA_KEY_PREFIX = "session:"
"""Keyring names of data keys: this, then the session id."""

_REPORTED_LIMIT = 10_000


def data_key_name(session_id: str) -> str:
    """Return the keyring name of a session's data key."""
    return DATA_KEY_PREFIX + session_id


class DataKeys:
    """Finds, makes and forgets the data keys of sessions, keeping recent ones unwrapped.

    Args:
        keyring: where wrapped keys are stored.
        kek: the key-encryption key, or ``None`` when encryption is off (then every
            look-up gives ``None``: values are stored plain).
        cache_size: how many unwrapped data keys to keep in memory.
    """

    def __init__(
        self, keyring: Keyring, kek: KeyEncryptionKey | None, *, cache_size: int = 1024
    ) -> None:
        self._keyring = keyring
        self._kek = kek
        self._cache: OrderedDict[str, Sealer] = OrderedDict()
        self._cache_size = cache_size
        self._reported: set[str] = set()

    @property
    def encrypted(self) -> bool:
        """Whether new data is sealed."""
        return self._kek is not None

    async def check(self) -> None:
        """Check the master key against the database's key check; store one if new.

        Raises:
            ConfigError: wrong master key, or an encrypted database without a key.
        """
        check = await self._keyring.keyring_get(CHECK_ENTRY)
        if self._kek is None:
            if check is not None:
                raise ConfigError(
                    "this database is encrypted: set [encryption] enabled = true "
                    "and give its master key"
                )
            return
        if check is None:
            check = await self._keyring.keyring_add(
                KeyringEntry(CHECK_ENTRY, self._kek.check_value, self._kek.version)
            )
        if not self._kek.matches(check.value):
            raise ConfigError("master key does not match this database")
        self._kek.version = check.version

    async def sealer(self, session_id: str, *, create: bool) -> Sealer | None:
        """Return the sealer of a session's data key, making the key if ``create``.

        ``None`` without encryption, when the session has no key (and ``create`` is
        false), or when its key does not unwrap (reported once).
        """
        cached = self._cache.get(session_id)
        if cached is not None:
            self._cache.move_to_end(session_id)
            return cached
        sealer = await self._load(session_id, create=create)
        if sealer is None:
            # Not cached: another worker may give this session a key at any moment.
            return None
        return self._remember(session_id, sealer)

    async def new_sealer(self, session_id: str) -> Sealer | None:
        """Make the data key of a session being created: no look-up for one first."""
        if self._kek is None:
            return None
        wrapped = self._kek.wrap(self._kek.new_data_key(), session_id)
        name = data_key_name(session_id)
        entry = await self._keyring.keyring_add(KeyringEntry(name, wrapped, self._kek.version))
        try:
            # The stored entry: another worker may have made one first.
            return self._remember(session_id, Sealer(self._kek.unwrap(entry.value, session_id)))
        except DecryptionError:
            self.report(name, "its data key does not unwrap")
            return None

    async def delete(self, session_id: str) -> None:
        """Delete a session's data key (crypto-shredding) and forget it here."""
        self._cache.pop(session_id, None)
        await self._keyring.keyring_delete(data_key_name(session_id))

    def report(self, what: str, why: str) -> None:
        """Log once that ``what`` is unreadable; never its content."""
        # Once per value: a corrupt row read on every turn must not flood the log.
        if what not in self._reported and len(self._reported) < _REPORTED_LIMIT:
            self._reported.add(what)
            log.error("%s is unreadable: %s", what, why)

    def _remember(self, session_id: str, sealer: Sealer) -> Sealer:
        self._cache[session_id] = sealer
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return sealer

    async def _load(self, session_id: str, *, create: bool) -> Sealer | None:
        if self._kek is None:
            return None
        name = data_key_name(session_id)
        entry = await self._keyring.keyring_get(name)
        if entry is None and create:
            wrapped = self._kek.wrap(self._kek.new_data_key(), session_id)
            entry = await self._keyring.keyring_add(KeyringEntry(name, wrapped, self._kek.version))
        if entry is None:
            return None
        try:
            return Sealer(self._kek.unwrap(entry.value, session_id))
        except DecryptionError:
            self.report(name, "its data key does not unwrap")
            return None
