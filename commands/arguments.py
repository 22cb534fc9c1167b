"""Reading argument values: ids, counts and free text, each failing with a clear line."""

from __future__ import annotations

from commands.formatting import one_line
from core.errors import UsageError
from core.ids import looks_like_id
from core.sessions.tags import tag_of

TITLE_LIMIT = 100
"""The longest title a session may get from a command."""


def id_arg(text: str, kind: str) -> str:
    """Return ``text`` as an id, lower-cased (phones like to capitalise).

    Args:
        text: the argument.
        kind: what the id names, for the error: ``"session"``, ``"checkpoint"``.

    Raises:
        UsageError: ``text`` cannot be an id.
    """
    candidate = text.strip().lower()
    if not looks_like_id(candidate):
        raise UsageError(f"{one_line(text, 32)!r} is not a {kind} id.")
    return candidate


def count_arg(text: str, what: str, *, maximum: int) -> int:
    """Return ``text`` as a whole number from 1 to ``maximum``.

    Args:
        text: the argument.
        what: what it counts, for the error: ``"messages"``, ``"page"``.
        maximum: the largest accepted value.

    Raises:
        UsageError: ``text`` is not such a number.
    """
    # isascii() too: isdigit() accepts "²", which int() rejects; the length check keeps
    # int() away from huge digit strings.
    digits = text.isascii() and text.isdigit() and len(text) <= len(str(maximum))
    if not digits or not 1 <= int(text) <= maximum:
        shown = one_line(text, 32)
        raise UsageError(f"The {what} must be a whole number from 1 to {maximum}, not {shown!r}.")
    return int(text)


def text_arg(text: str, what: str, *, limit: int, required: bool = True) -> str:
    """Check a free text (see :meth:`CommandContext.free_text`) of at most ``limit`` characters.

    Whitespace runs are collapsed into one space; quotes stay as typed.

    Args:
        text: the text, as typed.
        what: what the text is, for the error: ``"title"``, ``"name"``.
        limit: the most characters accepted.
        required: whether an empty text is an error (otherwise ``""`` is returned).

    Raises:
        UsageError: the text is too long, or empty when required.
    """
    text = " ".join(text.split())  # one line: runs of spaces and line breaks become one space
    if not text and required:
        raise UsageError(f"The {what} cannot be empty.")
    if len(text) > limit:
        raise UsageError(f"The {what} is too long ({len(text)} characters; at most {limit}).")
    return text


def tags_arg(args: tuple[str, ...]) -> list[str]:
    """Check tags as typed (``#`` optional, any case).

    Raises:
        UsageError: one of them is not a tag.
    """
    try:
        return list(dict.fromkeys(tag_of(arg) for arg in args))
    except ValueError as error:
        raise UsageError(f"{error}.") from None
