"""``/help``: generated from the registry, so plugins' commands appear too."""

from __future__ import annotations

from commands.context import CommandContext
from commands.registry import Command, Registry
from core.errors import NotFoundError
from core.menu import MenuOption
from core.models import Reply

registry = Registry()


# Telegram sends /start when someone first opens a chat with the bot: the list of
# commands is the most useful first answer.
@registry.command(
    "help",
    usage="/help [command]",
    aliases=("start",),
    max_args=2,
    options=[MenuOption("command", "A command, such as checkpoint restore", maximum=70, raw=True)],
)
async def help_command(ctx: CommandContext) -> Reply:
    """List the commands, or explain one.

    /help <command> shows a command's usage and what it does; add a subcommand to
    see just that one, as in /help checkpoint restore.
    """
    if not ctx.args:
        return Reply(_overview(ctx.registry))
    command = _find(ctx.registry, ctx.args)
    return Reply(_details(ctx.registry, command))


def _overview(registry: Registry) -> str:
    lines = ["Commands:"]
    lines.extend(
        f"/{command.name}{_admin_mark(command)} — {command.summary}"
        for command in registry.commands()
    )
    lines.append("Send /help <command> for more, such as /help checkpoint.")
    return "\n".join(lines)


def _find(registry: Registry, args: tuple[str, ...]) -> Command:
    name = args[0].removeprefix("/")
    command = registry.get(name)
    if command is None:
        nearest = registry.suggest(name)
        hint = f" Did you mean /{nearest}?" if nearest else ""
        raise NotFoundError(f"There is no command /{name[:32]}.{hint}")
    if len(args) == 1:
        return command
    sub = registry.get_subcommand(command.name, args[1])
    if sub is None:
        raise NotFoundError(f"/{command.name} has no subcommand {args[1][:32]!r}.")
    return sub


def _details(registry: Registry, command: Command) -> str:
    lines = [f"{registry.usage_of(command)}{_admin_mark(command)}", "", command.doc]
    prefix = f"/{command.parent} " if command.parent else "/"
    aliases = [f"{prefix}{alias}" for alias in command.aliases]
    if aliases:
        lines.extend(["", f"Also: {', '.join(aliases)}"])
    subs = registry.subcommands(command.name) if command.parent is None else []
    if subs:
        lines.append("")
        lines.extend(f"{sub.usage}{_admin_mark(sub)} — {sub.summary}" for sub in subs)
    return "\n".join(lines)


def _admin_mark(command: Command) -> str:
    return " (admins)" if command.admin_only else ""
