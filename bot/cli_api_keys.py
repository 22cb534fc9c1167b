"""``sessionbot api-keys …``: make, list and revoke keys of the HTTP API.

A key is printed once, when it is made; the database keeps only a hash of it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from bot.cli_support import Group, config_option, load_settings, local_time, run_async
from core.api_keys import new_api_key
from core.errors import UsageError

_USER = re.compile(r"[A-Za-z0-9_.@-]{1,128}")


@click.group("api-keys", cls=Group)
def api_keys() -> None:
    """Manage the keys of the HTTP API ([api])."""


@api_keys.command("create")
@config_option
@click.option("--user", "user_id", required=True, metavar="ID", help="The user the key acts as.")
@click.option("--admin", is_flag=True, help="The key sees and changes every session.")
@click.option("--name", default="", metavar="NAME", help="A label, shown by list.")
@run_async
async def create(config_path: Path | None, user_id: str, admin: bool, name: str) -> None:
    """Make a key and print it once: keep it, it cannot be shown again.

    A user key acts as api:ID (and the ids [identity] links to it) and sees only
    that user's sessions; an admin key sees all.
    """
    from core.storage.backends import open_backend

    if not _USER.fullmatch(user_id):
        raise click.BadParameter("1 to 128 letters, digits, _ . @ or -", param_hint="--user")
    if len(name) > 100 or not name.isprintable():
        raise click.BadParameter("at most 100 printable characters", param_hint="--name")
    settings, _ = load_settings(config_path)
    key, text = new_api_key(user_id, admin=admin, name=name, at=datetime.now(UTC))
    store = await open_backend(settings.storage.url)
    try:
        await store.add_api_key(key)
    finally:
        await store.close()
    click.echo(text)
    kind = "admin key" if admin else f"key for user {user_id}"
    click.echo(f"created {kind} {key.id}; it is shown only this once", err=True)


@api_keys.command("list")
@config_option
@run_async
async def list_keys(config_path: Path | None) -> None:
    """List the keys: id, user, admin or not, name, created, revoked."""
    from core.storage.backends import open_backend

    settings, _ = load_settings(config_path)
    store = await open_backend(settings.storage.url)
    try:
        keys = await store.list_api_keys()
    finally:
        await store.close()
    if not keys:
        click.echo("no API keys")
    zone = ZoneInfo(settings.bot.timezone)
    for key in keys:
        revoked = f"revoked {local_time(key.revoked_at, zone)}" if key.revoked else "active"
        role = "admin" if key.admin else "user"
        click.echo(
            f"{key.id}  {role:5}  {key.user_id}  {key.name or '-'}  "
            f"created {local_time(key.created_at, zone)}  {revoked}"
        )


@api_keys.command("revoke")
@config_option
@click.argument("key_id")
@run_async
async def revoke(config_path: Path | None, key_id: str) -> None:
    """Revoke a key by its id: requests with it get 401 from then on."""
    from core.storage.backends import open_backend

    settings, _ = load_settings(config_path)
    store = await open_backend(settings.storage.url)
    try:
        key = await store.get_api_key(key_id)
        if key is None:
            raise UsageError(f"no API key {key_id!r}")
        if not await store.revoke_api_key(key_id, datetime.now(UTC)):
            raise UsageError(f"API key {key_id} was revoked already")
    finally:
        await store.close()
    click.echo(f"revoked API key {key_id}")
