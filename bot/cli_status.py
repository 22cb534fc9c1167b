"""``sessionbot status``: the workers serving the database, and the roles each holds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from bot.cli_sessions import aligned
from bot.cli_support import config_option, load_settings, run_async
from bot.heartbeat import MISSED_BEATS
from core.roles import SCHEDULER_ROLE
from core.sessions.notices import format_duration


@click.command("status")
@config_option
@run_async
async def status(config_path: Path | None) -> None:
    """Show the workers alive on the configured database and the roles they hold."""
    settings, _ = load_settings(config_path)
    from bot.wiring import opened_manager  # heavy: SQLAlchemy, the commands package

    window = MISSED_BEATS * settings.bot.heartbeat_seconds
    async with opened_manager(settings) as manager:
        now = manager.clock.now()
        alive = await manager.store.workers(now - timedelta(seconds=window))
    if not alive:
        click.echo(f"no worker has been seen in the last {window} s")
        return
    rows = [
        (
            worker.id,
            worker.host,
            str(worker.pid),
            format_duration(now - worker.started_at),
            f"{(now - worker.seen_at).total_seconds():.0f} s ago",
            ", ".join(worker.roles) or "-",
        )
        for worker in alive
    ]
    headers = ("WORKER", "HOST", "PID", "UP", "LAST BEAT", "ROLES")
    for line in aligned(headers, rows, right=frozenset({2})):
        click.echo(line)
    for role in sorted({SCHEDULER_ROLE}.union(*(w.roles for w in alive))):
        holders = [w.id for w in alive if role in w.roles]
        click.echo(f"{role}: {', '.join(holders) or 'no worker'}")
