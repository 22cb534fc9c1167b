"""API keys of the HTTP sessions API: how they are made, stored and checked.

A key reads ``sbk_<id>_<secret>``. The id is public (it names the key in
``sessionbot api-keys list`` and in the store); the secret is 32 random bytes shown
once, when the key is made. Only the SHA-256 of the secret is stored: the secret has
256 bits of entropy, so a slow password hash would add nothing, and a stolen
database does not give the keys. Checking compares digests in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime

from core.entropy import random_bytes
from core.ids import new_id

KEY_PREFIX = "sbk"
"""The first part of every key, so a leaked key is recognisable (secret scanners)."""

KEY_ID_LENGTH = 12
"""Characters of a key's public id (60 bits)."""

_SECRET_BYTES = 32
_KEY = re.compile(rf"{KEY_PREFIX}_([a-z0-9]{{{KEY_ID_LENGTH}}})_([A-Za-z0-9_-]{{43}})")
_UNKNOWN_DIGEST = hashlib.sha256(b"no such key").hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One stored API key: who it acts as, and the hash of its secret.

    Attributes:
        id: the public id.
        secret_hash: hex SHA-256 of the secret part.
        user_id: the user the key acts as (``api:<user_id>``); for an admin key,
            who it was made for.
        admin: the key sees and changes every session.
        name: a label given when it was made.
        created_at: when it was made.
        revoked_at: when it was revoked; a revoked key opens nothing.
    """

    id: str
    secret_hash: str
    user_id: str
    admin: bool
    name: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        """Whether the key was revoked."""
        return self.revoked_at is not None


def new_api_key(user_id: str, *, admin: bool, name: str, at: datetime) -> tuple[ApiKey, str]:
    """Make a key: the row to store and the text to show once.

    Returns:
        The stored form (holding only the secret's hash) and the key itself.
    """
    key_id = new_id(KEY_ID_LENGTH)
    secret = base64.urlsafe_b64encode(random_bytes(_SECRET_BYTES)).decode("ascii").rstrip("=")
    stored = ApiKey(key_id, _digest(secret), user_id, admin, name, at)
    return stored, f"{KEY_PREFIX}_{key_id}_{secret}"


def parse_api_key(text: str) -> tuple[str, str] | None:
    """Return ``(id, secret)`` of a key's text, or ``None`` if it is not one."""
    match = _KEY.fullmatch(text)
    return None if match is None else (match[1], match[2])


def secret_matches(stored: ApiKey | None, secret: str) -> bool:
    """Tell whether ``secret`` is the secret of ``stored``, in constant time.

    An unknown key (``None``) is compared too, against a digest nothing matches, so
    the time taken does not tell a known id from an unknown one.
    """
    expected = _UNKNOWN_DIGEST if stored is None else stored.secret_hash
    same = hmac.compare_digest(_digest(secret), expected)
    return same and stored is not None and not stored.revoked


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()
