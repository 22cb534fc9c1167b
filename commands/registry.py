"""The command registry: what commands exist, and how a parsed command is checked.

A :class:`Registry` only records. Its decorators store a :class:`Command` and return
the handler unchanged; a bad registration (invalid or duplicate name, a handler that
is not ``async`` or has no docstring) raises :class:`ValueError` at once, at import
time, never at the first message. :meth:`Registry.bind` then checks a parsed command
(known name, subcommand, argument count) before any handler runs.

A handler is ``async def handler(ctx: CommandContext) -> Reply``; its docstring is its
``/help`` text, so it is written for users.
"""

from __future__ import annotations

import difflib
import inspect
import itertools
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from commands.parser import after_args
from core.errors import CommandError, UsageError
from core.menu import MenuOption
from core.models import Reply

if TYPE_CHECKING:
    from commands.context import CommandContext
    from commands.parser import ParsedCommand

Handler = Callable[["CommandContext"], Awaitable[Reply]]
"""A command handler: takes the checked context, returns the reply."""

HandlerT = TypeVar("HandlerT", bound=Handler)

# Top-level names follow Telegram's rules for bot commands (setMyCommands rejects
# others); subcommands are never sent to a platform, so they may use hyphens too.
_COMMAND_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_SUBCOMMAND_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


@dataclass(frozen=True, slots=True)
class Command:
    """A registered command or subcommand.

    Attributes:
        name: the canonical name, lower case.
        usage: one line such as ``/checkpoint restore <id>``.
        doc: the help text (the handler's docstring, cleaned).
        handler: the coroutine function; ``None`` for a group that only has
            subcommands.
        parent: the parent command's name, for a subcommand.
        aliases: other names that run it.
        min_args: fewest arguments accepted.
        max_args: most arguments accepted; ``None`` for no limit.
        admin_only: only admins may run it (a group's flag covers its subcommands).
        options: its arguments, typed, for platforms with native commands
            (Discord's slash commands); see :mod:`core.menu`.
    """

    name: str
    usage: str
    doc: str
    handler: Handler | None = None
    parent: str | None = None
    aliases: tuple[str, ...] = ()
    min_args: int = 0
    max_args: int | None = 0
    admin_only: bool = False
    options: tuple[MenuOption, ...] = ()

    @property
    def path(self) -> str:
        """The command as typed, such as ``/session list``."""
        return f"/{self.parent} {self.name}" if self.parent else f"/{self.name}"

    @property
    def summary(self) -> str:
        """The first line of the help text."""
        return self.doc.split("\n", 1)[0]

    def accepts(self, args: Sequence[str]) -> bool:
        """Tell whether the number of ``args`` is within bounds."""
        too_many = self.max_args is not None and len(args) > self.max_args
        return self.handler is not None and len(args) >= self.min_args and not too_many

    def check_args(self, args: Sequence[str]) -> None:
        """Raise :class:`UsageError` unless the number of ``args`` is within bounds."""
        if len(args) < self.min_args:
            raise UsageError(f"{self.path} needs more arguments.", self.usage)
        if self.max_args is not None and len(args) > self.max_args:
            if self.max_args == 0:
                raise UsageError(f"{self.path} takes no arguments.", self.usage)
            raise UsageError(f"Too many arguments for {self.path}.", self.usage)


@dataclass(frozen=True, slots=True)
class Invocation:
    """A parsed command matched to what it runs, arguments checked.

    Attributes:
        command: the command or subcommand to run.
        handler: its handler.
        args: the arguments, without the subcommand name.
        admin_only: whether the command or its group is for admins only.
        raw_args: the text of the arguments as typed, without the subcommand name.
    """

    command: Command
    handler: Handler
    args: tuple[str, ...]
    admin_only: bool
    raw_args: str = ""


class Registry:
    """The set of commands a router knows.

    Built-in families and plugins each fill one; :meth:`include` merges them.
    """

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}
        self._names: dict[str, str] = {}
        self._subcommands: dict[str, dict[str, Command]] = {}
        self._subnames: dict[str, dict[str, str]] = {}

    # -- registering ----------------------------------------------------------

    def command(
        self,
        name: str,
        *,
        usage: str | None = None,
        aliases: Sequence[str] = (),
        min_args: int = 0,
        max_args: int | None = 0,
        admin_only: bool = False,
        options: Sequence[MenuOption] = (),
    ) -> Callable[[HandlerT], HandlerT]:
        """Register the decorated coroutine function as ``/name``.

        Args:
            name: lower-case letters, digits and underscores, 1 to 32 characters.
            usage: the usage line; defaults to ``/name``.
            aliases: other names for it.
            min_args: fewest arguments accepted.
            max_args: most arguments accepted; ``None`` for no limit.
            admin_only: only admins may run it.
            options: its arguments, typed, for platforms with native commands.

        Returns:
            A decorator that records the handler and returns it unchanged.

        Raises:
            ValueError: from the decorator, if the registration is invalid.
        """
        return self._recorder(
            None, name, usage, aliases, min_args, max_args, admin_only=admin_only, options=options
        )

    def group(
        self, name: str, doc: str, *, aliases: Sequence[str] = (), admin_only: bool = False
    ) -> Command:
        """Register ``/name`` as a group that only runs its subcommands.

        Args:
            name: as for :meth:`command`.
            doc: the group's help text (first line: a one-line summary).
            aliases: other names for it.
            admin_only: only admins may run any of its subcommands.

        Raises:
            ValueError: the registration is invalid.
        """
        group = Command(
            name=name,
            usage=f"/{name} <subcommand>",
            doc=inspect.cleandoc(doc),
            aliases=tuple(aliases),
            admin_only=admin_only,
        )
        self._add(group)
        return group

    def subcommand(
        self,
        parent: str,
        name: str,
        *,
        usage: str | None = None,
        aliases: Sequence[str] = (),
        min_args: int = 0,
        max_args: int | None = 0,
        admin_only: bool = False,
        options: Sequence[MenuOption] = (),
    ) -> Callable[[HandlerT], HandlerT]:
        """Register the decorated coroutine function as ``/parent name``.

        ``parent`` must already be registered here (by :meth:`command` or
        :meth:`group`). Argument counts exclude the subcommand's name.

        Args:
            parent: the parent command's canonical name.
            name: lower-case letters, digits, ``_`` and ``-``, 1 to 32 characters.
            usage: the usage line; defaults to ``/parent name``.
            aliases: other names for it.
            min_args: fewest arguments accepted.
            max_args: most arguments accepted; ``None`` for no limit.
            admin_only: only admins may run it.
            options: its arguments, typed, for platforms with native commands.

        Returns:
            A decorator that records the handler and returns it unchanged.

        Raises:
            ValueError: from the decorator, if the registration is invalid.
        """
        return self._recorder(
            parent, name, usage, aliases, min_args, max_args, admin_only=admin_only, options=options
        )

    def _recorder(
        self,
        parent: str | None,
        name: str,
        usage: str | None,
        aliases: Sequence[str],
        min_args: int,
        max_args: int | None,
        *,
        admin_only: bool,
        options: Sequence[MenuOption],
    ) -> Callable[[HandlerT], HandlerT]:
        """The decorator of :meth:`command` (``parent`` ``None``) and :meth:`subcommand`."""
        path = f"/{name}" if parent is None else f"/{parent} {name}"

        def record(handler: HandlerT) -> HandlerT:
            self._add(
                Command(
                    name=name,
                    usage=usage or path,
                    doc=_doc_of(handler, path),
                    handler=handler,
                    parent=parent,
                    aliases=tuple(aliases),
                    min_args=min_args,
                    max_args=max_args,
                    admin_only=admin_only,
                    options=tuple(options),
                )
            )
            return handler

        return record

    def include(self, other: Registry) -> None:
        """Add every command of ``other``; all of them, or none if one clashes.

        Raises:
            ValueError: a name of ``other`` is already taken here.
        """
        with self.atomic():
            for command in other.commands():
                self._add(command)
                for sub in other.subcommands(command.name):
                    self._add(sub)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Undo every registration made inside the block if the block raises."""
        saved = (
            dict(self._commands),
            dict(self._names),
            {parent: dict(subs) for parent, subs in self._subcommands.items()},
            {parent: dict(names) for parent, names in self._subnames.items()},
        )
        try:
            yield
        except BaseException:
            self._commands, self._names, self._subcommands, self._subnames = saved
            raise

    def _add(self, command: Command) -> None:
        _validate(command)
        if command.parent is None:
            names, table = self._names, self._commands
        elif command.parent in self._commands:
            names = self._subnames.setdefault(command.parent, {})
            table = self._subcommands.setdefault(command.parent, {})
        else:
            raise ValueError(f"{command.path}: no command /{command.parent} to add it to")
        prefix = f"/{command.parent} " if command.parent else "/"
        for name in (command.name, *command.aliases):
            if name in names:
                raise ValueError(f"{prefix}{name} is already registered")
        table[command.name] = command
        names.update((name, command.name) for name in (command.name, *command.aliases))

    # -- reading --------------------------------------------------------------

    def commands(self) -> list[Command]:
        """Return the top-level commands in registration order."""
        return list(self._commands.values())

    def subcommands(self, parent: str) -> list[Command]:
        """Return the subcommands of ``parent`` in registration order."""
        return list(self._subcommands.get(parent, {}).values())

    def get(self, name: str) -> Command | None:
        """Return the top-level command called ``name`` (or aliased so), any case."""
        canonical = self._names.get(name.lower())
        return self._commands[canonical] if canonical else None

    def get_subcommand(self, parent: str, name: str) -> Command | None:
        """Return the subcommand ``name`` (or an alias) of ``parent``, any case."""
        canonical = self._subnames.get(parent, {}).get(name.lower())
        return self._subcommands[parent][canonical] if canonical else None

    def usage_of(self, command: Command) -> str:
        """Return a command's usage line, naming its subcommands if it has any."""
        subs = self.subcommands(command.name) if command.parent is None else []
        if not subs:
            return command.usage
        choices = f"/{command.name} {'|'.join(sub.name for sub in subs)} …"
        return f"{command.usage} or {choices}" if command.handler else choices

    def suggest(self, name: str) -> str | None:
        """Return the known top-level name nearest to ``name``, if one is close."""
        matches = difflib.get_close_matches(name.lower(), list(self._names), n=1)
        return self._names[matches[0]] if matches else None

    # -- checking -------------------------------------------------------------

    def bind(self, parsed: ParsedCommand) -> Invocation:
        """Match a parsed command to what it runs and check its arguments.

        Raises:
            CommandError: the command is unknown; the text suggests the nearest name.
            UsageError: unbalanced quote, unknown subcommand or wrong argument count.
        """
        command = self.get(parsed.name)
        if command is None:
            raise CommandError(self._unknown(parsed.name))
        if parsed.error is not None:
            raise UsageError(parsed.error, self._usage_near(command, parsed.raw_args))
        args = parsed.args
        sub = self.get_subcommand(command.name, args[0]) if args else None
        if sub is not None and sub.handler is not None:
            sub.check_args(args[1:])
            admin_only = command.admin_only or sub.admin_only
            raw = after_args(parsed.raw_args, 1)
            return Invocation(sub, sub.handler, args[1:], admin_only, raw)
        handler = command.handler
        # With subcommands, arguments the command itself cannot take were most
        # likely meant as a subcommand: say that rather than "too many arguments".
        meant_subcommand = bool(args and self.subcommands(command.name))
        if handler is None or (meant_subcommand and not command.accepts(args)):
            raise UsageError(self._pick_subcommand(command, args), self.usage_of(command))
        command.check_args(args)
        return Invocation(command, handler, args, command.admin_only, parsed.raw_args)

    def _unknown(self, name: str) -> str:
        nearest = self.suggest(name)
        hint = f"Did you mean /{nearest}?" if nearest else "Try /help."
        return f"Unknown command /{name}. {hint}"

    def _pick_subcommand(self, command: Command, args: Sequence[str]) -> str:
        names = ", ".join(sub.name for sub in self.subcommands(command.name))
        if args:
            return f"Unknown subcommand {_shorten(args[0])!r} for /{command.name}; try {names}."
        return f"/{command.name} needs a subcommand: {names}."

    def _usage_near(self, command: Command, raw_args: str) -> str:
        """Usage for a command whose arguments could not even be split."""
        first = raw_args.split(maxsplit=1)[0] if raw_args.split() else ""
        sub = self.get_subcommand(command.name, first) if first else None
        return sub.usage if sub is not None else self.usage_of(command)


def _validate(command: Command) -> None:
    pattern = _COMMAND_NAME if command.parent is None else _SUBCOMMAND_NAME
    for name in (command.name, *command.aliases):
        if not isinstance(name, str) or pattern.fullmatch(name) is None:
            raise ValueError(f"invalid command name {name!r}: expected {pattern.pattern}")
    if len(set(command.aliases) | {command.name}) != len(command.aliases) + 1:
        raise ValueError(f"{command.path}: an alias repeats a name")
    if command.min_args < 0 or (command.max_args is not None and command.max_args < 0):
        raise ValueError(f"{command.path}: argument counts cannot be negative")
    if command.max_args is not None and command.max_args < command.min_args:
        raise ValueError(f"{command.path}: max_args is less than min_args")
    if command.handler is not None and not inspect.iscoroutinefunction(command.handler):
        raise ValueError(f"{command.path}: the handler must be an async function")
    _validate_options(command)


def _validate_options(command: Command) -> None:
    options = command.options
    if len({option.name for option in options}) != len(options):
        raise ValueError(f"{command.path}: two options share a name")
    if any(
        later.required and not earlier.required for earlier, later in itertools.pairwise(options)
    ):
        raise ValueError(f"{command.path}: a required option follows an optional one")
    if any(option.raw for option in options[:-1]):
        raise ValueError(f"{command.path}: only the last option may be raw")


def _doc_of(handler: Callable[..., object], path: str) -> str:
    doc = inspect.getdoc(handler)
    if not doc:
        raise ValueError(f"{path}: the handler needs a docstring; it is the /help text")
    return doc


def _shorten(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
