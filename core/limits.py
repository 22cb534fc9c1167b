"""The bounds of the values operators and admins set, in one place.

The settings model (``config.toml`` and the environment), the ``sessionbot`` command
line and the chat commands all check against these, so a value one of them accepts
the others accept too, and the running bot can honour it. Each bound says why it is
where it is: most keep ``datetime ± timedelta`` near today inside what ``datetime``
holds (year 9999), with a margin no operator will miss.
"""

from __future__ import annotations

import re

MAX_RETENTION_DAYS = 36_500
"""``storage.retention_days`` and ``sessions cleanup --older-than-days``: 100 years."""

MAX_RESET_MINUTES = 525_600
"""Idle reset and daily-reset grace, in minutes: a year."""

MAX_MESSAGE_CHARS = 100_000
"""``bot.max_message_chars``: 25 times Telegram's 4096, far beyond any chat message."""

MAX_RATE_PER_MINUTE = 6_000
"""``bot.rate_limit_per_minute``: 100 messages a second per user; 0 turns the limit off."""

MAX_CONTEXT_TOKENS = 1_000_000
"""``context.max_tokens``: the largest context windows models offer."""

MAX_LIVE_CONVERSATIONS = 1_000_000
"""``context.live_conversations``: a million context windows is already many gigabytes."""

MAX_HISTORY_COUNT = 200
"""``/history N``: a screenful of chat, not a transcript (``/history export`` has it all)."""

MAX_LIST_LIMIT = 1_000
"""``sessions list --limit``: the most sessions one listing prints."""

BOT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""``bot.name``, as in ``/command@name``: letters, digits, ``_`` and ``-``, 1 to 64 of them."""

USER_REF = re.compile(r"[a-z][a-z0-9_-]{0,31}:[^\s\x00-\x1f\x7f]{1,256}")
"""A ``platform:user_id`` reference: a lower-case platform name, a colon, then an id
of 1 to 256 characters without spaces or control characters."""

RESET_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")
"""``HH:MM`` of a daily reset, in ASCII digits only: ``str.isdigit`` (and ``int``)
accept other scripts' digits too, such as the Arabic-Indic U+0660 to U+0669."""


def is_user_ref(text: str) -> bool:
    """Tell whether ``text`` is a well-formed ``platform:user_id`` reference."""
    return USER_REF.fullmatch(text) is not None and text.isprintable()
