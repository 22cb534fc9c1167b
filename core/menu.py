"""The command menu: commands as platforms with native commands show them.

Discord's slash commands (and any platform like it) want each command's options
typed up front: which are numbers, which are a choice among a few words, which
offer suggestions while the user types. ``commands`` describes its registry in these
terms (:class:`MenuCommand`, :class:`MenuOption`) and ``bot`` hands the menu to the
adapters; an adapter builds its platform's commands from it and, when one is used,
writes the command back as text (:meth:`MenuCommand.text`) for the router, which
parses it like a typed one. So a command behaves the same typed or picked.

:data:`Completer` is how an adapter asks for suggestions (the caller's own
checkpoint or session ids) without knowing the router.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from core.models import Inbound

_OPTION_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_QUOTES = "\"'"


class OptionKind(StrEnum):
    """What an option's value is."""

    TEXT = "text"
    INTEGER = "integer"
    FLAG = "flag"
    """A yes/no switch; when set, the option's name is written as a word."""


class Suggest(StrEnum):
    """Which of the caller's ids an option suggests while the user types."""

    CHECKPOINT = "checkpoint"
    SESSION = "session"


@dataclass(frozen=True, slots=True)
class MenuOption:
    """One argument of a command, typed.

    Attributes:
        name: lower-case letters, digits and ``_``, 1 to 32 characters.
        description: one line for the platform's picker.
        kind: text, integer or flag.
        required: whether the command needs it; required options come first.
        choices: the only values accepted (a text option shown as a choice).
        suggest: the ids it suggests, if any.
        minimum: the smallest integer accepted.
        maximum: the largest integer, or the longest text, accepted.
        raw: the value is written as typed, so the router splits it into words
            (a plugin command's free-form arguments); only the last option may be raw.
    """

    name: str
    description: str
    kind: OptionKind = OptionKind.TEXT
    required: bool = False
    choices: tuple[str, ...] = ()
    suggest: Suggest | None = None
    minimum: int | None = None
    maximum: int | None = None
    raw: bool = False

    def __post_init__(self) -> None:
        if not _OPTION_NAME.fullmatch(self.name):
            raise ValueError(f"invalid option name {self.name!r}: expected {_OPTION_NAME.pattern}")
        if not self.description.strip():
            raise ValueError(f"option {self.name!r} needs a description")
        if self.choices and self.kind is not OptionKind.TEXT:
            raise ValueError(f"option {self.name!r}: only text options have choices")

    def write(self, value: str | int | bool | None) -> str | None:
        """Return the option's value as the router reads it, or ``None`` if it is unset."""
        if value is None or value is False or value == "":
            return None
        if self.kind is OptionKind.FLAG:
            return self.name
        text = str(value)
        return text if self.raw else quote_arg(text)


@dataclass(frozen=True, slots=True)
class MenuCommand:
    """A command (or subcommand) as a platform's menu shows it.

    Attributes:
        name: the name on the platform (``show`` for a group's own command).
        description: its one-line summary.
        invokes: what it runs, as typed: ``/checkpoint restore``.
        options: its arguments, in order; empty for a group.
        subcommands: for a group: its subcommands, leaves only.
        admin_only: only admins may run it (the router refuses others).
        aliases: other names that run it when typed (``/start`` for ``/help``).
    """

    name: str
    description: str
    invokes: str = ""
    options: tuple[MenuOption, ...] = ()
    subcommands: tuple[MenuCommand, ...] = ()
    admin_only: bool = False
    aliases: tuple[str, ...] = ()

    def text(self, values: Mapping[str, str | int | bool | None]) -> str:
        """Write the command with option values as the router parses a typed one.

        Args:
            values: option name to value; missing or ``None`` options are left out.
        """
        words = [self.invokes]
        for option in self.options:
            written = option.write(values.get(option.name))
            if written is not None:
                words.append(written)
        return " ".join(words)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One suggestion while the user types an id.

    Attributes:
        value: what the option is set to (the id).
        label: what the user sees (the id, a name, an age).
    """

    value: str
    label: str


Completer = Callable[[Inbound, Suggest, str], Awaitable[list[Suggestion]]]
"""Suggests ids of a kind for the caller of ``Inbound``, matching the text typed so far."""


def quote_arg(arg: str) -> str:
    r"""Return ``arg`` written so that the command parser reads it back as one argument.

    Bare when it has no whitespace and does not start with a quote; otherwise in
    double quotes with ``\\`` and ``"`` escaped.
    """
    if arg and arg[0] not in _QUOTES and not any(ch.isspace() for ch in arg):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
