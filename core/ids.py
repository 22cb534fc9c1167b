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


def new_ordered_ids(count: int, random_length: int = 10, *, millis: int | None = None) -> list[str]:
    """Return ``count`` ids that sort by creation time: the millisecond, then random.

    Each is :data:`TIME_LENGTH` characters of the current Unix time in milliseconds
    (in the same alphabet, whose order is the characters' order), then
    ``random_length`` random characters (50 bits at the default). Rows keyed by them
    go to the end of their primary-key index instead of anywhere in it: a commit of
    new messages writes one page of that index rather than one per message, which
    measured a sixth of SQLite's work per append. ``millis`` gives another time
    (Unix milliseconds) than now.
    """
    prefix = _time_prefix(time.time_ns() // 1_000_000 if millis is None else millis)
    symbols = random_bytes(count * random_length).translate(_BY_BYTE).decode("ascii")
    if count == 1:
        return [prefix + symbols]
    return [prefix + symbols[i : i + random_length] for i in range(0, len(symbols), random_length)]


def first_ordered_id(millis: int) -> str:
    """Return an id sorting before every id :func:`new_ordered_ids` makes at ``millis`` or later.

    So ``id >= first_ordered_id(t)`` reads a time range through the primary key.
    """
    return _time_prefix(max(0, millis))


def _time_prefix(millis: int) -> str:
    global _last_prefix  # a cache of one entry, replaced whole (thread-safe)
    last = _last_prefix
    if last[0] == millis:
        return last[1]
    prefix = "".join(_ALPHABET[(millis >> shift) & 31] for shift in _TIME_SHIFTS)
    _last_prefix = (millis, prefix)
    return prefix


TIME_LENGTH = 10
"""Characters of time in :func:`new_ordered_ids`: 50 bits of milliseconds."""

_TIME_SHIFTS = tuple(range(5 * (TIME_LENGTH - 1), -1, -5))
_last_prefix: tuple[int, str] = (-1, "")
"""The last millisecond written and its characters (a tuple: replaced whole, thread-safe)."""


def looks_like_id(text: str) -> bool:
    """Tell whether ``text`` could be an id made by :func:`new_id`."""
    return 4 <= len(text) <= 32 and all(ch in _ALPHABET for ch in text)
