r"""Parse ``/name[@botname] args…`` into a command, with shell-like quoted arguments.

Quoting follows the shell where chat users expect it and departs from it where chat
text would trip over it:

* arguments are separated by whitespace;
* ``"double quotes"`` group words, and inside them ``\"`` and ``\\`` stand for a
  quote and a backslash (any other backslash is kept as typed);
* ``'single quotes'`` group words, with no escapes inside;
* a quote only opens a quoted argument at the start of a word, so the apostrophe in
  ``/new it's late`` is just a character, and a backslash outside quotes is kept,
  so ``C:\path`` survives.

Everything here is a pure function; :func:`parse_command` never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_QUOTES = "\"'"
# Telegram allows 32 characters in a command name; 64 leaves room for typos that
# still deserve an "Unknown command" answer rather than being sent to the responder.
_NAME = re.compile(r"/([A-Za-z0-9_-]{1,64})(?:@(\S+))?")


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    """A message that has the shape of a command.

    Attributes:
        name: the command name, lower-cased, without the slash.
        args: the arguments, unquoted; empty when ``error`` is set.
        addressed_to: the ``@botname`` suffix as typed, if any.
        raw_args: the text after the command name, stripped, as typed.
        error: why the arguments could not be split (an unbalanced quote), if so.
    """

    name: str
    args: tuple[str, ...]
    addressed_to: str | None
    raw_args: str
    error: str | None = None


def parse_command(text: str) -> ParsedCommand | None:
    """Parse ``text`` as a command.

    Args:
        text: the message text.

    Returns:
        The parsed command, or ``None`` when ``text`` is a plain message: it does not
        start with ``/`` followed by a command name and whitespace or the end.
    """
    match = _NAME.match(text)
    if match is None:
        return None
    rest = text[match.end() :]
    # Checked here rather than in the pattern, so "whitespace" means str.isspace()
    # exactly as in split_args.
    if rest and not rest[0].isspace():
        return None
    name, addressed_to = match.group(1).lower(), match.group(2)
    try:
        args = split_args(rest)
    except ValueError as error:
        return ParsedCommand(name, (), addressed_to, rest.strip(), error=str(error))
    return ParsedCommand(name, args, addressed_to, rest.strip())


def split_args(text: str) -> tuple[str, ...]:
    """Split an argument string into arguments, honouring quotes.

    Raises:
        ValueError: a quote is never closed.
    """
    args: list[str] = []
    position = 0
    while True:
        position = _skip_space(text, position)
        if position == len(text):
            return tuple(args)
        arg, position = _read_arg(text, position)
        args.append(arg)


def after_args(raw: str, skip: int) -> str:
    """Return the text of ``raw`` after its first ``skip`` arguments, as typed and stripped.

    Raises:
        ValueError: a quote in the skipped arguments is never closed.
    """
    position = 0
    for _ in range(skip):
        position = _skip_space(raw, position)
        if position == len(raw):
            return ""
        _, position = _read_arg(raw, position)
    return raw[position:].strip()


def free_text(raw: str) -> str:
    """Return arguments meant as one free text (a title, a description), as typed.

    Free text keeps its quotes and spacing, so ``Hist "quoted" title`` stays so; only
    one quoted argument that spans the whole text is unquoted (``"My trip"`` gives
    ``My trip``).
    """
    text = raw.strip()
    if text[:1] in tuple(_QUOTES):
        try:
            whole, end = _read_arg(text, 0)
        except ValueError:
            return text
        if end == len(text):
            return whole
    return text


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def _read_arg(text: str, position: int) -> tuple[str, int]:
    """Read one argument starting at ``position``; return it and the position after it."""
    parts: list[str] = []
    if text[position] == '"':
        position = _read_double_quoted(text, position + 1, parts)
    elif text[position] == "'":
        position = _read_single_quoted(text, position + 1, parts)
    # Whatever touches the argument up to the next whitespace belongs to it, as typed.
    end = position
    while end < len(text) and not text[end].isspace():
        end += 1
    parts.append(text[position:end])
    return "".join(parts), end


def _read_single_quoted(text: str, position: int, parts: list[str]) -> int:
    end = text.find("'", position)
    if end == -1:
        raise ValueError("A ' quote is never closed.")
    parts.append(text[position:end])
    return end + 1


def _read_double_quoted(text: str, position: int, parts: list[str]) -> int:
    while position < len(text):
        char = text[position]
        if char == '"':
            return position + 1
        if char == "\\" and position + 1 < len(text) and text[position + 1] in '"\\':
            parts.append(text[position + 1])
            position += 2
            continue
        parts.append(char)
        position += 1
    raise ValueError('A " quote is never closed.')
