"""``sessionbot keys …``: make a master key, rotate it, encrypt a plaintext database."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli_support import Group, config_option, load_settings, run_async
from core.errors import ConfigError


@click.group(cls=Group)
def keys() -> None:
    """Manage the master key of encryption at rest."""


@keys.command("generate")
def generate() -> None:
    """Print a new master key (32 random bytes, base64) to put in $SESSIONBOT_MASTER_KEY."""
    from core.crypto.envelope import generate_master_key

    click.echo(generate_master_key())


@keys.command("rotate")
@config_option
@click.option("--new-key-env", metavar="VAR", help="Environment variable holding the new key.")
@click.option(
    "--new-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the new key.",
)
@run_async
async def rotate(
    config_path: Path | None, new_key_env: str | None, new_key_file: Path | None
) -> None:
    """Re-wrap every session's data key under a new master key.

    The current key comes from [encryption] as configured. Stop the bot first. A
    rotation cut off halfway leaves the database on the current key; run it again
    to finish. Afterwards, configure the new key and start the bot.
    """
    from bot.master_key import read_key
    from core.crypto.rotation import rotate_master_key
    from core.storage.backends import open_backend

    settings, label = load_settings(config_path)
    if not settings.encryption.enabled:
        raise ConfigError(f"{label}: encryption.enabled: encryption is off; nothing to rotate")
    if (new_key_env is None) == (new_key_file is None):
        raise click.UsageError("give exactly one of --new-key-env and --new-key-file")
    old = read_key(settings.encryption.key_env, settings.encryption.key_file)
    new = read_key(new_key_env or "", new_key_file)
    store = await open_backend(settings.storage.url)
    try:
        report = await rotate_master_key(store, old, new)
    finally:
        await store.close()
    click.echo(
        f"re-wrapped {report.staged} data keys; the database now uses master key "
        f"version {report.version}. Configure the new key, then start the bot."
    )


@keys.command("encrypt-existing")
@config_option
@run_async
async def encrypt_existing(config_path: Path | None) -> None:
    """Encrypt everything a database stored before encryption was enabled; resumable."""
    from bot.master_key import load_master_key
    from core.crypto.rotation import encrypt_existing as encrypt
    from core.storage.backends import open_backend

    settings, label = load_settings(config_path)
    master = load_master_key(settings.encryption)
    if master is None:
        raise ConfigError(f"{label}: encryption.enabled: enable encryption first")
    store = await open_backend(settings.storage.url)
    try:
        report = await encrypt(store, master)
    finally:
        await store.close()
    click.echo(
        f"encrypted {report.messages} messages, {report.sessions} sessions' titles and tags, "
        f"and {report.checkpoints} checkpoints"
    )
