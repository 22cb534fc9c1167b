"""``sessionbot sessions …``: operator tools to list, read, move and delete sessions."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from pathlib import Path

import click

from bot.cli_support import (
    Group,
    WholeNumber,
    config_option,
    load_settings,
    local_time,
    run_async,
)
from bot.config import Settings
from core.errors import UsageError
from core.files import write_private_file
from core.limits import MAX_LIST_LIMIT, MAX_RETENTION_DAYS, is_user_ref
from core.models import ReplyFile, Session
from core.sessions.export import ExportFormat, export_session
from core.sessions.imports import ImportedSession, parse_export
from core.sessions.manager import SessionManager
from core.storage.protocols import SessionFilter
from core.text import for_terminal

_KEY = re.compile(
    r"(?P<platform>[a-z][a-z0-9_-]*):(?:c:(?P<channel>.+?)(?::u:(?P<user>.+))?|u:(?P<peer>.+))"
)
_SHOWN_MESSAGES = 10


def _opened_manager(settings: Settings) -> AbstractAsyncContextManager[SessionManager]:
    # Imported only when a command needs the store: it pulls in SQLAlchemy, Alembic
    # and the commands package, which ``sessionbot --help`` need not wait for.
    from bot.wiring import opened_manager

    return opened_manager(settings)


@click.group(cls=Group)
def sessions() -> None:
    """List, show, export, import, delete and clean up sessions."""


@sessions.command("list")
@config_option
@click.option("--scope-key", help="Only sessions of this scope key.")
@click.option("--status", type=click.Choice(["active", "archived"]), help="Only this status.")
@click.option("--limit", type=WholeNumber(1, MAX_LIST_LIMIT), default=20, show_default=True)
@run_async
async def list_sessions(
    config_path: Path | None, scope_key: str | None, status: str | None, limit: int
) -> None:
    """List sessions, newest first."""
    settings, _ = load_settings(config_path)
    if scope_key is not None:
        check_scope_key(scope_key)
    async with _opened_manager(settings) as manager:
        found = await manager.sessions.list(
            SessionFilter(scope_key=scope_key, status=status), limit=limit + 1
        )
        zones = [(await manager.reset_policy(s)).timezone for s in found[:limit]]
    if not found:
        click.echo("no sessions")
        return
    rows = [
        (
            session.id,
            _status(session),
            str(session.message_count),
            local_time(session.last_activity_at, zone),
            session.scope_key,
            for_terminal(session.title or ""),
        )
        for session, zone in zip(found, zones, strict=False)
    ]
    for line in aligned(_LIST_HEADERS, rows, right=frozenset({2})):
        click.echo(line)
    if len(found) > limit:
        click.echo(
            f"more sessions than {limit}: add --limit {min(limit * 2, MAX_LIST_LIMIT)}", err=True
        )


_LIST_HEADERS = ("ID", "STATUS", "MSGS", "LAST ACTIVITY", "SCOPE KEY", "TITLE")


def aligned(
    headers: tuple[str, ...],
    rows: Sequence[tuple[str, ...]],
    *,
    right: frozenset[int] = frozenset(),
) -> list[str]:
    """Lay out a table in columns as wide as their widest cell, two spaces apart.

    Args:
        headers: the column headers.
        rows: the cells, one tuple a row.
        right: indexes of the columns aligned right (numbers).
    """
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        padded = (
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    return [line(headers), *(line(row) for row in rows)]


@sessions.command("show")
@config_option
@click.argument("session_id")
@run_async
async def show_session(config_path: Path | None, session_id: str) -> None:
    """Show a session's details and its last messages."""
    settings, _ = load_settings(config_path)
    async with _opened_manager(settings) as manager:
        session = await manager.sessions.get(session_id)
        checkpoints = await manager.checkpoints.list(session)
        page = await manager.history.page(session, limit=_SHOWN_MESSAGES)
        zone = (await manager.reset_policy(session)).timezone  # the channel's, else the bot's
    for label, value in _details(session, zone):
        click.echo(f"{label:<14} {for_terminal(str(value))}")
    click.echo(f"{'checkpoints':<14} {len(checkpoints)}")
    for checkpoint in checkpoints:
        kind = " (automatic)" if checkpoint.auto else ""
        click.echo(f"  {checkpoint.id}  {checkpoint.name!r}{kind}, {checkpoint.seq} messages")
    click.echo(f"last {len(page.messages)} messages:" if page.messages else "no messages")
    for message in page.messages:
        when = local_time(message.created_at, zone)
        author, content = for_terminal(message.author), for_terminal(message.content)
        click.echo(f"  [{when}] {author} ({message.role.value}): {content}")


def _status(session: Session) -> str:
    if session.archive_reason is None or session.is_active:
        return session.status.value
    return f"{session.status.value} ({session.archive_reason.value})"


def _details(session: Session, zone: tzinfo) -> list[tuple[str, str]]:
    return [
        ("session", session.id),
        ("title", session.title or "-"),
        ("status", _status(session)),
        ("scope key", session.scope_key),
        ("owner", session.owner),
        ("created", local_time(session.created_at, zone)),
        ("last activity", local_time(session.last_activity_at, zone)),
        ("archived", local_time(session.archived_at, zone)),
        ("messages", str(session.message_count)),
        ("tokens", f"{session.tokens_in} in, {session.tokens_out} out"),
    ]


@sessions.command("export")
@config_option
@click.argument("session_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice([fmt.value for fmt in ExportFormat]),
    default=ExportFormat.MARKDOWN.value,
    show_default=True,
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
def export(config_path: Path | None, session_id: str, fmt: str, output: Path | None) -> None:
    """Export a session; a JSON export can be imported again."""
    settings, _ = load_settings(config_path)
    file, count = asyncio.run(_export(settings, session_id, ExportFormat(fmt)))
    if output is None:
        click.echo(file.content.decode("utf-8"), nl=False)
        return
    write_private_file(output, file.content)
    click.echo(f"exported session {session_id} ({count} messages) to {output}")


async def _export(settings: Settings, session_id: str, fmt: ExportFormat) -> tuple[ReplyFile, int]:
    async with _opened_manager(settings) as manager:
        session = await manager.sessions.get(session_id)
        messages = await manager.history.all_messages(session)
        checkpoints = await manager.checkpoints.list(session)
    return export_session(session, messages, checkpoints, fmt), len(messages)


@dataclass(frozen=True, slots=True)
class _Origin:
    """Where an imported session lives, derived from its scope key and ``--owner``."""

    platform: str
    channel_id: str
    owner: str


def check_scope_key(scope_key: str) -> re.Match[str] | None:
    """Check that ``scope_key`` has the form of a scope key; return its parts if it names some.

    Raises:
        UsageError: it is not one :func:`core.sessions.scope.scope_key_for` makes
            (the message shows the forms, and where to find keys).
    """
    if scope_key == "main" or (scope_key.startswith("identity:u:") and len(scope_key) > 11):
        return None
    match = _KEY.fullmatch(scope_key)
    if match is None:
        raise UsageError(
            f"{for_terminal(scope_key[:80])!r} is not a scope key; expected main, "
            "PLATFORM:c:CHANNEL, PLATFORM:u:USER, PLATFORM:c:CHANNEL:u:USER or identity:u:NAME "
            "(the SCOPE KEY column of sessions list)"
        )
    return match


def _origin(scope_key: str, owner: str | None) -> _Origin:
    """Derive platform, channel and owner for a session of ``scope_key``.

    Raises:
        UsageError: the key is not one :func:`core.sessions.scope.scope_key_for` makes, or it
            names no user and ``--owner`` is missing.
    """
    if scope_key == "main" or scope_key.startswith("identity:u:"):
        if owner is None:
            raise UsageError(f"scope key {scope_key!r} names no platform user: pass --owner")
        return _Origin(owner.partition(":")[0], "", owner)
    match = check_scope_key(scope_key)
    assert match is not None  # main and identity keys were handled above
    user = match["user"] or match["peer"]
    owner = owner or (f"{match['platform']}:{user}" if user else None)
    if owner is None:
        raise UsageError(f"scope key {scope_key!r} names no user: pass --owner platform:user")
    # A thread's channel key is CHANNEL/THREAD; the session records the channel.
    channel = (match["channel"] or "").partition("/")[0]
    return _Origin(match["platform"], channel, owner)


@sessions.command("import")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--scope-key", required=True, help="The scope key the session joins.")
@click.option("--owner", help="platform:user owning the session [default: the key's user].")
def import_session(config_path: Path | None, file: Path, scope_key: str, owner: str | None) -> None:
    """Import a JSON export as an archived session; prints the new id."""
    settings, _ = load_settings(config_path)
    if owner is not None and not is_user_ref(owner):
        raise UsageError(f"--owner {owner!r} is not of the form platform:user")
    origin = _origin(scope_key, owner)
    imported = parse_export(file.read_bytes())
    session = asyncio.run(_import(settings, imported, scope_key, origin))
    click.echo(session.id)
    click.echo(
        f"imported {session.message_count} messages as archived session {session.id} "
        f"in {scope_key}; make it active with /session resume {session.id}",
        err=True,
    )


async def _import(
    settings: Settings, imported: ImportedSession, scope_key: str, origin: _Origin
) -> Session:
    async with _opened_manager(settings) as manager:
        return await manager.maintenance.import_export(
            imported,
            scope_key=scope_key,
            owner=origin.owner,
            platform=origin.platform,
            channel_id=origin.channel_id,
        )


@sessions.command("delete")
@config_option
@click.argument("session_id")
@run_async
async def delete(config_path: Path | None, session_id: str) -> None:
    """Delete a session with its messages and checkpoints."""
    settings, _ = load_settings(config_path)
    async with _opened_manager(settings) as manager:
        await manager.sessions.get(session_id)  # raises NotFoundError with a clear line
        await manager.sessions.delete(session_id)
    click.echo(f"deleted session {session_id}")


@sessions.command("cleanup")
@config_option
@click.option(
    "--older-than-days",
    type=WholeNumber(0, MAX_RETENTION_DAYS),
    help="Delete sessions archived longer ago [default: storage.retention_days].",
)
@click.option(
    "--keep-checkpointed/--no-keep-checkpointed",
    default=None,
    help="Spare sessions with a user checkpoint [default: storage.keep_checkpointed].",
)
@run_async
async def cleanup(
    config_path: Path | None, older_than_days: int | None, keep_checkpointed: bool | None
) -> None:
    """Delete archived sessions past retention."""
    settings, _ = load_settings(config_path)
    days = settings.storage.retention_days if older_than_days is None else older_than_days
    keep = settings.storage.keep_checkpointed if keep_checkpointed is None else keep_checkpointed
    if older_than_days is None and days == 0:
        click.echo(
            "storage.retention_days is 0 (keep forever): nothing deleted; "
            "pass --older-than-days N to clean up anyway"
        )
        return
    async with _opened_manager(settings) as manager:
        deleted = await manager.maintenance.cleanup(timedelta(days=days), keep_checkpointed=keep)
    spared = " (sessions with checkpoints kept)" if keep else ""
    click.echo(f"deleted {deleted} sessions archived more than {days} days ago{spared}")
