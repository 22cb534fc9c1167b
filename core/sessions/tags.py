"""Tags and metadata keys as users type them: one check for commands, CLI and imports."""

from __future__ import annotations

import re

MAX_TAGS = 20
"""Tags one session may have."""
MAX_METADATA_KEYS = 20
"""Metadata keys one session may have."""
MAX_METADATA_VALUE = 200
"""Characters of one metadata value."""

_TAG = re.compile(r"[^\W_][\w.-]{0,31}")
_KEY = re.compile(r"[^\W_][\w.-]{0,31}")


def tag_of(text: str) -> str:
    """Return a tag as stored: lower case, without a leading ``#``.

    Raises:
        ValueError: not 1 to 32 letters, digits, ``_``, ``.`` or ``-`` (starting
            with a letter or digit).
    """
    tag = text.strip().removeprefix("#").casefold()
    if not _TAG.fullmatch(tag):
        raise ValueError(
            f"{text[:40]!r} is not a tag: use 1 to 32 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return tag


def metadata_key_of(text: str) -> str:
    """Return a metadata key as given, checked.

    Raises:
        ValueError: not 1 to 32 letters, digits, ``_``, ``.`` or ``-``.
    """
    if not _KEY.fullmatch(text):
        raise ValueError(
            f"{text[:40]!r} is not a metadata key: use 1 to 32 letters, digits, "
            "'_', '.' or '-', starting with a letter or digit"
        )
    return text
