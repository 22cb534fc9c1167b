"""Splitting a reply into messages that fit a platform's size limit.

Platforms refuse messages over a size (Telegram 4,096, Discord 2,000 characters);
a reply is never cut short to fit, it is sent as several messages instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator


def _one_unit(char: str) -> int:
    return 1


def utf16_units(char: str) -> int:
    """Return how many UTF-16 code units ``char`` takes: 2 outside the BMP, else 1."""
    return 2 if ord(char) > 0xFFFF else 1


def split_text(text: str, limit: int, *, char_size: Callable[[str], int] = _one_unit) -> list[str]:
    """Split ``text`` into chunks no larger than ``limit``, breaking at line ends.

    Whole lines are packed into a chunk while they fit; the newline at a break is
    dropped. A line longer than ``limit`` is cut, after its last space that fits
    when there is one in the second half of the window, else exactly at the limit.
    Chunks holding only whitespace are left out, since platforms reject empty
    messages. Nothing else is lost: joining the chunks, with a newline wherever a
    break fell between two lines, gives back ``text``.

    Args:
        text: the text to split.
        limit: the largest size of a chunk, at least 1.
        char_size: the size of one character, for platforms that count something
            other than code points (:func:`utf16_units` for Telegram).

    Returns:
        The chunks in order; empty when ``text`` is only whitespace.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    chunks: list[str] = []
    lines: list[str] = []
    size = 0
    for line in text.split("\n"):
        for index, piece in enumerate(_pieces(line, limit, char_size)):
            piece_size = sum(map(char_size, piece))
            # A continuation of a cut line must start a chunk: joining it to its
            # first part with a newline would add a line break the text lacks.
            if lines and (index > 0 or size + 1 + piece_size > limit):
                chunks.append("\n".join(lines))
                lines, size = [], 0
            size += piece_size + (1 if lines else 0)
            lines.append(piece)
    chunks.append("\n".join(lines))
    return [chunk for chunk in chunks if chunk.strip()]


def _pieces(line: str, limit: int, char_size: Callable[[str], int]) -> Iterator[str]:
    """Yield ``line`` in pieces of at most ``limit``; the line itself when it fits."""
    while True:
        end = _fitting_prefix(line, limit, char_size)
        if end == len(line):
            yield line
            return
        space = line.rfind(" ", end // 2, end)
        cut = space + 1 if space > 0 else end
        yield line[:cut]
        line = line[cut:]


def _fitting_prefix(line: str, limit: int, char_size: Callable[[str], int]) -> int:
    """Return the length of the longest prefix of ``line`` whose size is ``limit`` or less."""
    size = 0
    for index, char in enumerate(line):
        size += char_size(char)
        if size > limit:
            # Never zero: one character always fits, even if it counts double
            # against a limit of one (a surrogate pair cannot be cut).
            return max(index, 1)
    return len(line)
