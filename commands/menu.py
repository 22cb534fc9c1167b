"""The registry as a command menu (:mod:`core.menu`), for platforms with native commands.

A command with subcommands becomes a group of them; when the command also runs by
itself (``/session``, ``/history [N]``), that becomes the group's ``show``
subcommand, since a platform such as Discord cannot run a group itself. A command
that declares no options but takes arguments (a plugin's) gets one free-form
``arguments`` option, split by the router as if typed.
"""

from __future__ import annotations

import dataclasses

from commands.formatting import one_line
from commands.registry import Command, Registry
from core.menu import MenuCommand, MenuOption

SHOW = "show"
"""The subcommand that runs a group's own command."""

FREE_FORM = "arguments"
"""The option of a command that declares none but takes arguments."""


def menu_of(registry: Registry) -> tuple[MenuCommand, ...]:
    """Return every top-level command of ``registry`` as a menu entry, in order."""
    return tuple(_entry(registry, command) for command in registry.commands())


def _entry(registry: Registry, command: Command) -> MenuCommand:
    subs = registry.subcommands(command.name)
    if not subs:
        return dataclasses.replace(_leaf(command, command.name), aliases=command.aliases)
    leaves = [_leaf(sub, sub.name, group_admin_only=command.admin_only) for sub in subs]
    if command.handler is not None and registry.get_subcommand(command.name, SHOW) is None:
        leaves.insert(0, _leaf(command, SHOW))
    return MenuCommand(
        command.name,
        command.summary,
        subcommands=tuple(leaves),
        admin_only=command.admin_only,
        aliases=command.aliases,
    )


def _leaf(command: Command, name: str, *, group_admin_only: bool = False) -> MenuCommand:
    return MenuCommand(
        name,
        command.summary,
        invokes=command.path,
        options=command.options or _free_form(command),
        admin_only=group_admin_only or command.admin_only,
    )


def _free_form(command: Command) -> tuple[MenuOption, ...]:
    if command.max_args == 0:
        return ()
    usage = one_line(command.usage, 100)
    return (MenuOption(FREE_FORM, usage, required=command.min_args > 0, raw=True),)
