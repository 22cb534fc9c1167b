"""Envelope encryption with AES-256-GCM, from the ``cryptography`` package.

* The master key (32 random bytes, base64) never touches the database. A key-encryption
  key (KEK) is derived from it with HKDF-SHA256.
* Every session has a random 256-bit data key, stored wrapped under the KEK together
  with the version of the master key that wrapped it.
* Values are sealed under the session's data key with a fresh random 96-bit nonce and
  associated data naming what the value is (session id, message id, field), so a
  ciphertext moved onto another row fails its tag check.

A stored value says its own format: ``sb:aes256gcm:`` + base64(nonce + ciphertext) is
sealed; ``sb:plain:`` + text is plain text that happened to start with ``sb:``;
``sb:nul:`` + escaped text is plain text holding U+0000;
anything else not starting with ``sb:`` is plain text. Plain and sealed rows can
therefore coexist while a database is being encrypted. A value that starts with ``sb:``
but with neither tag was not written by sessionbot (damaged, or tampered with): it
never reads as text.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.entropy import random_bytes
from core.errors import ConfigError, SessionbotError

KEY_BYTES = 32
NONCE_BYTES = 12
SEALED_PREFIX = "sb:aes256gcm:"
PLAIN_PREFIX = "sb:plain:"
NUL_PREFIX = "sb:nul:"
_ESCAPED = re.compile("%(00|25)")
_RESERVED = "sb:"
_SEALED_LENGTH = len(SEALED_PREFIX)


class DecryptionError(SessionbotError):
    """A sealed value failed its tag check: tampered, corrupt, or another key."""


def generate_master_key() -> str:
    """Return a new master key: 32 random bytes, base64-encoded."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def decode_master_key(text: str, *, source: str) -> bytes:
    """Decode a base64 master key.

    Args:
        text: the key as stored in the environment variable or file.
        source: where it came from, for the error message.

    Raises:
        ConfigError: not base64, or not 32 bytes.
    """
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ConfigError(f"{source}: the master key is not valid base64") from error
    if len(key) != KEY_BYTES:
        raise ConfigError(
            f"{source}: the master key must be {KEY_BYTES} bytes, not {len(key)} "
            "(make one with `sessionbot keys generate`)"
        )
    return key


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose).derive(master)


class KeyEncryptionKey:
    """The KEK derived from one master key; wraps and unwraps session data keys.

    Args:
        master: the 32-byte master key.
        version: the master key's version, stored beside every key it wraps.
    """

    def __init__(self, master: bytes, version: int = 1) -> None:
        self.version = version
        self._aead = AESGCM(_derive(master, b"sessionbot key-encryption key v1"))
        self._check = _derive(master, b"sessionbot key check v1")
        self._search = _derive(master, b"sessionbot blind index v1")

    @property
    def search_key(self) -> bytes:
        """The key of the blind index (:mod:`core.crypto.blind_index`), its own HKDF label."""
        return self._search

    @property
    def check_value(self) -> bytes:
        """A value derived from the master key that reveals nothing about it.

        Stored in the keyring, it lets start-up tell a wrong master key apart before
        anything is read or written.
        """
        return self._check

    def matches(self, stored_check: bytes) -> bool:
        """Tell whether ``stored_check`` was made by this master key."""
        return hmac.compare_digest(self._check, stored_check)

    def new_data_key(self) -> bytes:
        """Return a fresh random 256-bit data key."""
        return AESGCM.generate_key(bit_length=256)

    def wrap(self, data_key: bytes, owner: str) -> bytes:
        """Wrap a data key; ``owner`` (a session id) is bound as associated data."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data_key, _wrap_ad(owner))

    def unwrap(self, wrapped: bytes, owner: str) -> bytes:
        """Unwrap a data key made by :meth:`wrap` for the same owner.

        Raises:
            DecryptionError: wrong key, wrong owner, or a damaged value.
        """
        try:
            return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_ad(owner))
        except InvalidTag as error:
            raise DecryptionError(f"the data key of {owner} does not unwrap") from error


def _wrap_ad(owner: str) -> bytes:
    return f"sessionbot data key:{owner}".encode()


class Sealer:
    """Seals and opens text under one data key."""

    def __init__(self, data_key: bytes) -> None:
        self._aead = AESGCM(data_key)

    def seal(self, text: str, context: str) -> str:
        """Encrypt ``text``; ``context`` names the value (e.g. ``message:<sid>:<mid>``)."""
        nonce = random_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, text.encode("utf-8"), context.encode("utf-8"))
        return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, value: str, context: str) -> str:
        """Return the text of a stored value, sealed or plain.

        Raises:
            DecryptionError: a sealed value fails its tag check.
        """
        # Sealed first: with encryption on, nearly every value read is.
        if not value.startswith(SEALED_PREFIX):
            return open_plain(value)
        try:
            raw = binascii.a2b_base64(value[_SEALED_LENGTH:], strict_mode=True)
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (InvalidTag, binascii.Error, ValueError) as error:
            raise DecryptionError(f"{context} does not decrypt") from error
        return plain.decode("utf-8")


def _unescape(match: re.Match[str]) -> str:
    return "\x00" if match.group(1) == "00" else "%"


def is_sealed(value: str) -> bool:
    """Tell whether a stored value is sealed."""
    return value.startswith(SEALED_PREFIX)


def store_plain(text: str) -> str:
    """Return how plain ``text`` is stored: as is, unless it needs a format tag.

    Text that could pass for a tag gets ``sb:plain:``; text holding U+0000, which
    PostgreSQL text cannot store, gets ``sb:nul:`` with ``%`` and U+0000 escaped as
    ``%25`` and ``%00``, so it reads back the same on every backend.
    """
    if "\x00" in text:
        return NUL_PREFIX + text.replace("%", "%25").replace("\x00", "%00")
    return PLAIN_PREFIX + text if text.startswith(_RESERVED) else text


def open_plain(value: str) -> str:
    """Return the text of a value stored by :func:`store_plain`.

    Raises:
        DecryptionError: the value is sealed, or has a format tag sessionbot never
            writes (damaged or tampered with).
    """
    if not value.startswith(_RESERVED):
        return value
    if value.startswith(PLAIN_PREFIX):
        return value[len(PLAIN_PREFIX) :]
    if value.startswith(NUL_PREFIX):
        return _ESCAPED.sub(_unescape, value[len(NUL_PREFIX) :])
    if is_sealed(value):
        raise DecryptionError("the value is encrypted and encryption is not enabled")
    raise DecryptionError("the value has an unknown format tag (damaged or tampered with)")
