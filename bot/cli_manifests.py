"""``sessionbot <adapter> manifest``: the app description of adapter plugins that have one.

Some platforms create an app from a description (an app manifest). An adapter
plugin that can write one (:attr:`adapters.base.AdapterPlugin.manifest`) gets a
command group named after it, looked up when the command line is read, so ``bot``
names no platform.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from adapters.base import AdapterPlugin, CommandSpec
from bot.cli_support import Group, config_option, load_settings
from bot.plugins import adapter_plugins
from commands import default_registry


class CliGroup(Group):
    """The top-level group: the built-in commands, then one group per manifest plugin."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Return the built-in commands' names and the plugins' groups, sorted."""
        return sorted(set(super().list_commands(ctx)) | set(_manifest_plugins()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return a built-in command, or the group of the plugin of that name."""
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        plugin = _manifest_plugins().get(cmd_name)
        return None if plugin is None else plugin_group(plugin)


def _manifest_plugins() -> dict[str, AdapterPlugin[Any]]:
    plugins = adapter_plugins().plugins
    return {name: plugin for name, plugin in plugins.items() if plugin.manifest is not None}


def command_specs() -> list[CommandSpec]:
    """Return every top-level command, plugins' included, as an app description lists it."""
    registry = default_registry(load_plugins=True)
    return [CommandSpec(c.name, c.summary, registry.usage_of(c)) for c in registry.commands()]


def plugin_group(plugin: AdapterPlugin[Any]) -> click.Group:
    """Return the command group of one adapter plugin that writes a manifest."""

    @click.group(name=plugin.name, cls=Group)
    def group() -> None:
        pass

    group.help = f"The {plugin.name} adapter."

    @group.command("manifest")
    @config_option
    def manifest(config_path: Path | None) -> None:
        """Print the app manifest for the configured commands and settings."""
        settings, _ = load_settings(config_path)
        write = plugin.manifest
        if write is None:  # only plugins with a manifest get a group
            raise click.UsageError(f"the {plugin.name} adapter has no manifest")
        text = write(settings.adapters[plugin.name], command_specs(), settings.bot.name)
        click.echo(text, nl=not text.endswith("\n"))

    return group
