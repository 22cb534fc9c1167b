"""The ``sessionbot`` command line: run the bot, check config, manage the database.

Exit status: 0 on success, 2 for a bad configuration (or bad command-line usage),
1 for any other error sessionbot reports. User errors print one line, never a
traceback.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import click

from bot import cli_search  # noqa: F401 (adds `sessions search`)
from bot.cli_api_keys import api_keys
from bot.cli_keys import keys
from bot.cli_manifests import CliGroup
from bot.cli_sessions import sessions
from bot.cli_status import status
from bot.cli_support import Group, config_option, load_settings
from bot.config import Settings, override
from bot.logs import configure_logging
from bot.master_key import load_master_key
from bot.platforms import check_secrets, missing_secrets
from bot.tokenizers import choose_counter
from core.errors import ConfigError


@click.group(cls=CliGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sessionbot")
def cli() -> None:
    """Chat bots that keep conversation sessions."""


@cli.command()
@config_option
@click.option("--as", "user", metavar="USER", help="Console: the user id lines are written as.")
@click.option("--channel", metavar="CHANNEL", help="Console: the channel id.")
def run(config_path: Path | None, user: str | None, channel: str | None) -> None:
    """Run the bot until its adapters finish (console: end of input) or SIGINT/SIGTERM."""
    settings, label = load_settings(config_path)
    settings = _console_options(settings, user=user, channel=channel)
    if not settings.enabled_adapters():
        raise ConfigError(f"{label}: adapters: no adapter is enabled; enable [adapters.console]")
    check_secrets(settings)  # a missing secret stops here, before the database is opened
    configure_logging(settings.bot.log_level, settings.bot.log_format)
    from bot.app import Application  # heavy (SQLAlchemy, Alembic): only when running

    try:
        asyncio.run(Application(settings).run())
    except KeyboardInterrupt:
        # Ctrl-C before the signal handlers were installed, or a second one while
        # stopping: leave quietly with the conventional status.
        raise SystemExit(130) from None


def _console_options(settings: Settings, *, user: str | None, channel: str | None) -> Settings:
    # Plain overrides of two keys of the console plugin's table, which that plugin
    # validates like any other value: bot imports nothing of the console.
    if user is not None:
        settings = override(settings, {"adapters.console.user": user}, label="--as")
    if channel is not None:
        settings = override(settings, {"adapters.console.channel": channel}, label="--channel")
    return settings


@cli.group(cls=Group)
def config() -> None:
    """Check the configuration."""


@config.command("check")
@config_option
def config_check(config_path: Path | None) -> None:
    """Load and validate the configuration and its secrets; exit 2 if anything is wrong."""
    settings, label = load_settings(config_path)
    problems = missing_secrets(settings)
    try:
        load_master_key(settings.encryption)
    except ConfigError as error:
        problems.append(str(error))
    if problems:  # every one at once, as `run` would meet them one by one
        raise ConfigError("; ".join(problems))
    adapters = ", ".join(settings.enabled_adapters()) or "none"
    tokens = choose_counter(settings.context.tokenizer, settings.responder.counted_model())
    click.echo(
        f"{label}: OK (bot {settings.bot.name!r}, storage {_masked(settings.storage.url)}, "
        f"scope {settings.sessions.scope.value}, responder {settings.responder.kind}, "
        f"adapters: {adapters}, tokens: {tokens.counter.name}, {tokens.reason})"
    )


@cli.group(cls=Group)
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
@config_option
def db_upgrade(config_path: Path | None) -> None:
    """Apply pending schema migrations to the configured database."""
    settings, _ = load_settings(config_path)
    from core.crypto.opening import upgrade_checked  # heavy (SQLAlchemy, Alembic)

    master_key = load_master_key(settings.encryption)
    asyncio.run(upgrade_checked(settings.storage.url, master_key=master_key))
    click.echo(f"database {_masked(settings.storage.url)} is up to date")


def _masked(url: str) -> str:
    """Hide the password of a database URL."""
    return re.sub(r"(://[^:/@]+:)[^@/]+@", r"\1***@", url)


cli.add_command(sessions)
cli.add_command(keys)
cli.add_command(status)
cli.add_command(api_keys)


def main() -> None:
    """Entry point of the ``sessionbot`` console script."""
    cli(prog_name="sessionbot")
