"""Short random identifiers for sessions, checkpoints and messages."""

from __future__ import annotations

import time

from core.entropy import random_bytes

# Lower-case letters and digits without look-alikes (0/o, 1/l), so an id read off a
# phone screen can be typed back. 32 symbols: each random byte picks one with
# ``byte % 32``, without bias, since 256 is a multiple of 32.
_ALPHABET = "23456789abcdefghijkmnpqrstuvwxyz"
_BY_BYTE = bytes(_ALPHABET, "ascii") * (256 // len(_ALPHABET))


def new_id(length: int = 8) -> str:
    """Return a random id of ``length`` characters (40 bits at the default length)."""
    return random_bytes(length).translate(_BY_BYTE).decode("ascii")


def new_ids(count: int, length: int = 8) -> list[str]:
    """Return ``count`` random ids of ``length`` characters, from one random read."""
    symbols = random_bytes(count * length).translate(_BY_BYTE).decode("ascii")
    return [symbols[i : i + length] for i in range(0, count * length, length)]


def new_ordered_ids(count: int, random_length: int = 10) -> list[str]:
    """Return ``count`` ids that sort by creation time: the millisecond, then random.

    Each is :data:`TIME_LENGTH` characters of the current Unix time in milliseconds
    (in the same alphabet, whose order is the characters' order), then
    ``random_length`` random characters (50 bits at the default). Rows keyed by them
    go to the end of their primary-key index instead of anywhere in it: a commit of
    new messages writes one page of that index rather than one per message, which
    measured a sixth of SQLite's work per append.
    """
    now = time.time_ns() // 1_000_000
    prefix = "".join(_ALPHABET[(now >> shift) & 31] for shift in _TIME_SHIFTS)
    return [prefix + tail for tail in new_ids(count, random_length)]


TIME_LENGTH = 10
"""Characters of time in :func:`new_ordered_ids`: 50 bits of milliseconds."""

_TIME_SHIFTS = tuple(range(5 * (TIME_LENGTH - 1), -1, -5))


def looks_like_id(text: str) -> bool:
    """Tell whether ``text`` could be an id made by :func:`new_id`."""
    return 4 <= len(text) <= 32 and all(ch in _ALPHABET for ch in text)
