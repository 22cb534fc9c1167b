"""Resets end to end: an admin sets an idle reset, time passes, the next reply says so."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.storage.sql.schema import sessions
from core.storage.sql.store import SqlStore
from tests.e2e.test_console_e2e import ID, Bot

pytestmark = pytest.mark.e2e


async def let_time_pass(db: Path, minutes: int) -> None:
    """Move every session's clocks back, as if ``minutes`` had passed (bot stopped)."""
    store = SqlStore(f"sqlite:///{db}")
    await store.open()
    try:
        await store.run(_move_clocks_back, timedelta(minutes=minutes))
    finally:
        await store.close()


def _move_clocks_back(conn: sa.Connection, by: timedelta) -> None:
    rows = conn.execute(
        sa.select(sessions.c.id, sessions.c.created_at, sessions.c.last_activity_at)
    )
    for session_id, created, active in rows.all():
        conn.execute(
            sessions.update()
            .where(sessions.c.id == session_id)
            .values(created_at=created - by, last_activity_at=active - by)
        )


def test_an_idle_reset_set_by_an_admin_starts_a_fresh_session(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    refused, accepted, hello, info = bot.run(
        "@bob: /session idle-reset 1", "/session idle-reset 1", "hello", "/session"
    )
    assert "admin" in refused.lower()
    assert accepted == (
        "Conversations in this channel now start over after 1 minute without a message."
    )
    assert hello == "echo: hello"
    first = re.search(rf"^Session {ID}", info, re.MULTILINE)
    assert first is not None and "Next resets: idle" in info

    asyncio.run(let_time_pass(bot.db, 2))
    again, later = bot.run("hello again", "/session")
    notice, echo = again.split("\n\n")
    # Idle for as long as it really was: two minutes moved back, and the seconds between.
    assert re.fullmatch(
        rf"Started a new session: the last one was idle for 2 min( \d+ s)?\. "
        rf"/session resume {first[1]} to go back\.",
        notice,
    ), notice
    assert echo == "echo: hello again"
    assert first[1] not in later.split("\n")[0]

    # The setting belongs to the channel: it survived the reset and the restart.
    [back] = bot.run(f"/session resume {first[1]}")
    assert back.startswith(f"Resumed {first[1]}")
