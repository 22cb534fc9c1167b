"""Text as sessionbot keeps it: valid Unicode that every backend stores as given.

Text from outside (a platform's update, a terminal, an imported file) can hold lone
UTF-16 surrogates (U+D800 to U+DFFF alone, from a JSON escape or a bad decoder), which
cannot be encoded as UTF-8 and so cannot be stored anywhere. They are replaced, one
U+FFFD each, where text comes in; a well-formed surrogate pair becomes the character it
stands for.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"


def clean_text(text: str) -> str:
    """Return ``text`` with lone surrogates replaced by U+FFFD (pairs joined)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-16 joins a pair written as two code points; what stays alone is replaced.
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def clean_json(value: Any) -> Any:
    """Return a parsed JSON value with every string in it (keys too) cleaned."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [clean_json(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(str(key)): clean_json(item) for key, item in value.items()}
    return value


def decode_text(data: bytes) -> str:
    """Decode bytes from outside as UTF-8, invalid sequences replaced by U+FFFD."""
    return data.decode("utf-8", "replace")


_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def for_terminal(text: str) -> str:
    r"""Return ``text`` safe to print on a terminal: control characters shown escaped.

    ESC (and so every ANSI and OSC sequence), NUL, bell and the C1 controls print as
    ``\x1b`` and the like; line breaks and tabs stay.
    """
    return _CONTROLS.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
