"""Short random identifiers for sessions, checkpoints and messages."""

from __future__ import annotations

import secrets

# Lower-case letters and digits without look-alikes (0/o, 1/l), so an id read off a
# phone screen can be typed back.
_ALPHABET = "23456789abcdefghijkmnpqrstuvwxyz"


def new_id(length: int = 8) -> str:
    """Return a random id of ``length`` characters (40 bits at the default length)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def looks_like_id(text: str) -> bool:
    """Tell whether ``text`` could be an id made by :func:`new_id`."""
    return 4 <= len(text) <= 32 and all(ch in _ALPHABET for ch in text)
