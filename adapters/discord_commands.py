"""Slash commands: an ``app_commands.CommandTree`` built from the command menu.

Each menu entry (:class:`core.MenuCommand`) becomes a slash command; one with
subcommands becomes a group. Options keep their types: integers as integers with
their bounds, flags as booleans, choices as choices, texts with their longest
length, and options that take a checkpoint or session id suggest the caller's own
while they type. A used command is written back as text
(:meth:`core.MenuCommand.text`) and answered like a typed one, so admin checks,
usage lines and errors are the router's, the same as on every platform.

discord.py reads a command's options from its callback's signature; the callbacks
here are built for each menu entry and carry the signature the entry describes.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import discord
from discord import app_commands

from core import MenuCommand, MenuOption, OptionKind, Suggest, Suggestion

logger = logging.getLogger(__name__)

RunCommand = Callable[[discord.Interaction, str], Awaitable[None]]
"""Answers an interaction with the command written as text."""

SuggestIds = Callable[[discord.Interaction, Suggest, str], Awaitable[list[Suggestion]]]
"""The caller's ids of a kind matching what they typed."""

DESCRIPTION_LIMIT = 100
CHOICES_LIMIT = 25
BAD_VALUE = "That value is not accepted here."
GONE = "That command is not available any more; try /help."


def build_tree(
    client: discord.Client, menu: Sequence[MenuCommand], run: RunCommand, suggest: SuggestIds | None
) -> app_commands.CommandTree[discord.Client]:
    """Return a command tree holding a slash command for each menu entry.

    An entry Discord would refuse (too many subcommands or options) is left out
    with a warning; the rest still work.
    """
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)
    for entry in menu:
        try:
            tree.add_command(_slash(entry, run, suggest))
        except (TypeError, ValueError, app_commands.AppCommandError) as error:
            logger.warning("the command /%s cannot be a slash command: %s", entry.name, error)
    tree.error(_on_error)
    return tree


def _slash(
    entry: MenuCommand, run: RunCommand, suggest: SuggestIds | None
) -> app_commands.Command[Any, ..., None] | app_commands.Group:
    if not entry.subcommands:
        return _command(entry, entry.name, run, suggest)
    group = app_commands.Group(name=entry.name, description=_short(entry.description))
    for sub in entry.subcommands:
        group.add_command(_command(sub, sub.name, run, suggest))
    return group


def _command(
    entry: MenuCommand, name: str, run: RunCommand, suggest: SuggestIds | None
) -> app_commands.Command[Any, ..., None]:
    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        await run(interaction, entry.text(values))

    parameters = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    parameters.extend(_parameter(option) for option in entry.options)
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    if entry.options:
        described = {o.name: _short(o.description) for o in entry.options}
        app_commands.describe(**described)(callback)
    choices = {
        o.name: [app_commands.Choice(name=c, value=c) for c in o.choices[:CHOICES_LIMIT]]
        for o in entry.options
        if o.choices
    }
    if choices:
        app_commands.choices(**choices)(callback)
    if suggest is not None:
        completers = {o.name: _completer(o.suggest, suggest) for o in entry.options if o.suggest}
        if completers:
            app_commands.autocomplete(**completers)(callback)
    return app_commands.Command(name=name, description=_short(entry.description), callback=callback)


def _parameter(option: MenuOption) -> inspect.Parameter:
    default = inspect.Parameter.empty if option.required else None
    return inspect.Parameter(
        option.name, inspect.Parameter.KEYWORD_ONLY, annotation=_annotation(option), default=default
    )


def _annotation(option: MenuOption) -> Any:
    if option.kind is OptionKind.FLAG:
        return bool
    if option.kind is OptionKind.INTEGER:
        return app_commands.Range[int, option.minimum, option.maximum]
    if option.maximum is not None and not option.choices:
        return app_commands.Range[str, 1, option.maximum]
    return str


def _completer(
    kind: Suggest, suggest: SuggestIds
) -> Callable[[discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]:
    async def complete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        found = await suggest(interaction, kind, current)
        return [
            app_commands.Choice(name=_short(s.label), value=s.value) for s in found[:CHOICES_LIMIT]
        ]

    return complete


def _short(text: str) -> str:
    text = " ".join(text.split()) or "-"
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 1] + "…"


async def _on_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
    """Answer a value discord.py could not read with one private line."""
    if isinstance(error, app_commands.TransformerError):
        text = BAD_VALUE
    elif isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
        # Discord still shows a command registered before the bot changed.
        text = GONE
    else:
        logger.error("slash command failed: %s", type(error).__name__)
        text = "Sorry, that command could not be handled."
    if not interaction.response.is_done():
        await interaction.response.send_message(text, ephemeral=True)


async def sync_commands(
    tree: app_commands.CommandTree[discord.Client], mode: str, guild_ids: Sequence[int]
) -> None:
    """Register the tree's commands with Discord: globally, in some guilds, or not.

    A failure is logged with how to fix it and start-up goes on: text commands and
    messages work without slash commands.
    """
    if mode == "off":
        return
    if mode == "global":
        await _sync(tree, None)
        return
    for guild_id in guild_ids:
        guild = discord.Object(id=guild_id)
        tree.copy_global_to(guild=guild)
        await _sync(tree, guild)


async def _sync(
    tree: app_commands.CommandTree[discord.Client], guild: discord.Object | None
) -> None:
    where = f"guild {guild.id}" if guild is not None else "every guild"
    try:
        synced = await tree.sync(guild=guild)
    except discord.Forbidden:
        logger.error(
            "Discord refused the slash commands for %s: the bot is not in that guild, or was "
            "invited without the applications.commands scope; invite it again with the scopes "
            "bot and applications.commands (or fix adapters.discord.guild_ids)",
            where,
        )
    except discord.HTTPException as error:
        logger.error("registering the slash commands for %s failed: %s", where, error)
    else:
        logger.info("registered %d slash commands for %s", len(synced), where)
